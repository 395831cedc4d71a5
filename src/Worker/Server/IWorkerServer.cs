using System.Net.Sockets;

namespace Gunicorn.Worker.Server;

/// <summary>A worker's server on its Unix socket: the poll loop of sync and gthread workers, or the asgi worker's event loop.</summary>
internal interface IWorkerServer : IDisposable
{
    /// <summary>Completes when serving has stopped: after <see cref="Stop"/> and the last in-flight response.</summary>
    Task Completion { get; }

    /// <summary>Listens on the socket (failures throw here, before readiness is reported) and starts serving.</summary>
    void Start();

    /// <summary>Graceful stop, from any thread: no new connections; requests already sent are answered, then serving ends.</summary>
    void Stop();

    /// <summary>How long the worker has been unable to serve anything else (its heartbeat stops past the timeout); null when healthy.</summary>
    TimeSpan? BusyFor();
}

/// <summary>The worker's listening socket.</summary>
internal static class WorkerListener
{
    /// <summary>Binds and listens on <paramref name="socketPath"/>, non-blocking: accept only what poll announced.</summary>
    public static Socket Open(string socketPath)
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(socketPath));
            listener.Listen(512);
            listener.Blocking = false; // never wait for a peer that gave up
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        return listener;
    }
}
