using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Gunicorn.AspNetWorker;

/// <summary>
/// The app's Kestrel transport for the worker's Unix socket, where only the front connects: one thread per
/// connection that blocks in recv and runs Kestrel's parsing, the app and the response's send on itself, as a
/// gunicorn sync or gthread worker serves a connection. Kestrel's socket transport hands every read from its event
/// thread to the thread pool and every send to its I/O queue; behind the front each worker runs at a fraction of a
/// core, so those threads sleep between requests and every request woke several of them (6-10 context switches and
/// twice the CPU of the same app answering clients itself, docs/benchmarks.md). Here a request wakes one thread.
/// An app that blocks stalls only its own connection: the front sends one request at a time on each. The app's
/// code that resumes after an await runs on the thread pool as before, and sends from there.
/// Kestrel asks the transports registered last first; this one is registered before Kestrel's own (hosting
/// startups run first), so it binds only its own kind of endpoint, <see cref="FrontSocketEndPoint"/>, which no
/// other transport takes. Endpoints the app listens on itself keep Kestrel's socket transport.
/// </summary>
public sealed class FrontSocketTransport(IOptions<SocketTransportOptions> options, IServiceProvider services)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    public bool CanBind(EndPoint endpoint) => endpoint is FrontSocketEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (endpoint is not FrontSocketEndPoint front)
        {
            throw new ArgumentException($"{nameof(FrontSocketTransport)} binds only the worker's socket, not {endpoint}.", nameof(endpoint));
        }
        var pool = services.GetService<IMemoryPoolFactory<byte>>()?.Create(new MemoryPoolOptions { Owner = "gunicorn-net" })
                   ?? MemoryPool<byte>.Shared;
        return ValueTask.FromResult<IConnectionListener>(FrontSocketListener.Bind(front, options.Value, pool));
    }
}

/// <summary>The worker's Unix socket, where the front connects (a type of its own, so that only <see cref="FrontSocketTransport"/> binds it).</summary>
/// <param name="SendTimeout">How long a send may make no progress (the worker's timeout; zero: no limit).</param>
public sealed class FrontSocketEndPoint(string path, TimeSpan sendTimeout) : EndPoint
{
    public string Path { get; } = path;

    public TimeSpan SendTimeout { get; } = sendTimeout;

    public override AddressFamily AddressFamily => AddressFamily.Unix;

    public override string ToString() => "unix:" + Path;
}

/// <summary>Accepts the front's connections on the worker's Unix socket and gives each its thread.</summary>
internal sealed class FrontSocketListener : IConnectionListener
{
    private readonly Socket _socket;
    private readonly SocketTransportOptions _options;
    private readonly MemoryPool<byte> _pool;
    private static readonly TimeSpan AcceptRetryDelay = TimeSpan.FromMilliseconds(10); // EMFILE: let descriptors free up
    private readonly TimeSpan _sendTimeout;
    private long _accepted;
    private long _lastAcceptFailureLogged = long.MinValue / 2;

    private FrontSocketListener(Socket socket, SocketTransportOptions options, MemoryPool<byte> pool, TimeSpan sendTimeout)
    {
        _socket = socket;
        _sendTimeout = sendTimeout;
        _options = options;
        _pool = pool;
    }

    public EndPoint EndPoint => _socket.LocalEndPoint!;

    public static FrontSocketListener Bind(FrontSocketEndPoint endpoint, SocketTransportOptions options, MemoryPool<byte> pool)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(endpoint.Path));
            socket.Listen(options.Backlog);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            socket.Dispose();
            throw new AddressInUseException(e.Message, e);
        }
        return new FrontSocketListener(socket, options, pool, endpoint.SendTimeout);
    }

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Socket? accepted = null;
            try
            {
                accepted = await _socket.AcceptAsync(cancellationToken);
                var id = Interlocked.Increment(ref _accepted);
                return FrontSocketConnection.Start(accepted, _pool, _options, "front-" + id.ToString(System.Globalization.CultureInfo.InvariantCulture), _sendTimeout);
            }
            catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException
                                      || e is SocketException { SocketErrorCode: SocketError.OperationAborted or SocketError.Interrupted })
            {
                accepted?.Dispose();
                return null; // Unbound: Kestrel reads null as "this listener is done".
            }
            catch (Exception e)
            {
                // A connection that failed between accept and its thread (out of descriptors, threads, a reset):
                // only that one is lost. Letting it out would end Kestrel's accept loop for good while the worker
                // went on heartbeating, alive and deaf.
                accepted?.Dispose();
                if (Environment.TickCount64 - _lastAcceptFailureLogged > 1000) // once a second while it lasts (EMFILE)
                {
                    _lastAcceptFailureLogged = Environment.TickCount64;
                    Console.Error.WriteLine($"[gunicorn-net] Worker {Environment.ProcessId} could not take a connection from the front: {e.Message}");
                }
                await Task.Delay(AcceptRetryDelay, CancellationToken.None);
            }
        }
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
