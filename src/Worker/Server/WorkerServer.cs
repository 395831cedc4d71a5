using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using Gunicorn.Shared.Logging;
using Gunicorn.Worker.Http;
using Gunicorn.Worker.Python;

namespace Gunicorn.Worker.Server;

/// <summary>
/// A worker's HTTP/1.1 server on its Unix socket, shaped like gunicorn's own workers. One event loop polls the
/// listener and the idle keep-alive connections from the front. <c>sync</c> serves a ready connection on the loop's
/// own thread, the thread that imported the app, so a request costs one wake-up, a receive and a send, and apps that
/// expect a single thread (a module-level SQLite connection) keep working. <c>gthread</c> hands the ready connection
/// to one of its serving threads and takes it back when the response is written.
/// </summary>
internal sealed class WorkerServer : IWorkerServer
{
    /// <summary>Unread request body the worker reads and discards to keep a connection; beyond it the connection closes.</summary>
    private const long DrainLimit = 256 * 1024;

    private static readonly byte[] BadRequest =
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nBad Request\n"u8.ToArray();

    private readonly string _socketPath;
    private readonly IRequestHandler _handler;
    private readonly ServingThreads _threads;
    private readonly bool _threaded;
    private readonly Action _requestDone;
    private readonly Poller _poller = new();
    private readonly List<Http1Connection> _idle = [];
    private readonly List<Http1Connection> _watched = [];
    private readonly ConcurrentQueue<Http1Connection> _served = new();
    private Socket? _listener;
    private volatile bool _stopping;
    private int _busy;
    private long _requestStarted;
    private long _acceptPausedUntil;

    /// <param name="threaded">gthread: serve on the serving threads other than the loop's.</param>
    /// <param name="requestDone">Called after each response (the master's request count, max_requests).</param>
    public WorkerServer(string socketPath, IRequestHandler handler, ServingThreads threads, bool threaded, Action requestDone)
    {
        _socketPath = socketPath;
        _handler = handler;
        _threads = threads;
        _threaded = threaded;
        _requestDone = requestDone;
    }

    /// <summary>Completes when the loop has stopped: after <see cref="Stop"/> and the last in-flight response.</summary>
    public Task Completion { get; private set; } = Task.CompletedTask;

    /// <summary>Listens on the socket (failures throw here, before readiness is reported) and starts the loop.</summary>
    public void Start()
    {
        _listener = WorkerListener.Open(_socketPath);
        Completion = _threads.RunAsync(() =>
        {
            Loop();
            return 0;
        });
    }

    /// <summary>Graceful stop, from any thread: no new connections; requests already sent are answered, then the loop ends.</summary>
    public void Stop()
    {
        _stopping = true;
        _poller.Wake();
    }

    /// <summary>
    /// How long the sync worker's only request has been running; null when it is idle or between requests, and always
    /// for gthread, whose loop keeps taking connections while its threads serve (as in gunicorn).
    /// </summary>
    public TimeSpan? BusyFor() =>
        !_threaded && Volatile.Read(ref _requestStarted) is var started and not 0 ? Stopwatch.GetElapsedTime(started) : null;

    /// <summary>Runs on the loop's serving thread, holding the GIL, released while it waits.</summary>
    private void Loop()
    {
        var listenerFd = (int)_listener!.Handle;
        try
        {
            while (true)
            {
                var stopping = _stopping;
                while (_served.TryDequeue(out var served))
                {
                    _idle.Add(served);
                }
                _poller.Reset();
                var accepting = !stopping && Stopwatch.GetTimestamp() >= _acceptPausedUntil;
                var listenerIndex = accepting ? _poller.Add(listenerFd) : -1;
                _watched.Clear();
                foreach (var connection in _idle)
                {
                    _poller.Add(connection.Fd);
                    _watched.Add(connection);
                }
                var inFlight = Volatile.Read(ref _busy);
                using (Gil.Released())
                {
                    // Once stopping, one last look without waiting serves what the front had already sent.
                    _poller.Wait(stopping && inFlight == 0 ? 0 : accepting || stopping ? -1 : 100);
                }
                var first = accepting ? 2 : 1;
                for (var i = _watched.Count - 1; i >= 0; i--)
                {
                    if (_poller.IsReady(first + i))
                    {
                        _idle.Remove(_watched[i]);
                        Dispatch(_watched[i]);
                    }
                }
                if (listenerIndex > 0 && _poller.IsReady(listenerIndex))
                {
                    AcceptPending(listenerFd);
                }
                if (stopping && inFlight == 0 && Volatile.Read(ref _busy) == 0)
                {
                    return;
                }
            }
        }
        finally
        {
            _listener.Dispose();
            foreach (var connection in _idle)
            {
                connection.Dispose();
            }
            _idle.Clear();
        }
    }

    private void AcceptPending(int listenerFd)
    {
        while (true)
        {
            var fd = Syscalls.Accept(listenerFd, out var errno);
            if (fd >= 0)
            {
                _idle.Add(new Http1Connection(fd));
                continue;
            }
            if (errno != Syscalls.WouldBlock)
            {
                // Out of descriptors (EMFILE): stop accepting for a moment rather than spin on a readable listener.
                ErrorLog.Warning($"Worker (pid:{Environment.ProcessId}) cannot accept a connection (errno {errno}); pausing accepts for 100 ms.");
                _acceptPausedUntil = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 10;
            }
            return;
        }
    }

    private void Dispatch(Http1Connection connection)
    {
        if (_threaded)
        {
            Hand(connection);
        }
        else if (Serve(connection))
        {
            _idle.Add(connection);
        }
    }

    /// <summary>
    /// gthread: the connection goes to a serving thread. A method of its own because its closure would otherwise be
    /// allocated on every call of <see cref="Dispatch"/>, sync requests included (C# allocates it where the captured
    /// parameter comes into scope).
    /// </summary>
    private void Hand(Http1Connection connection)
    {
        Interlocked.Increment(ref _busy);
        _threads.Post(() =>
        {
            try
            {
                if (Serve(connection))
                {
                    _served.Enqueue(connection);
                }
            }
            finally
            {
                Interlocked.Decrement(ref _busy);
                _poller.Wake();
            }
        });
    }

    /// <summary>Serves one request on <paramref name="connection"/>; false when the connection is done.</summary>
    private bool Serve(Http1Connection connection)
    {
        try
        {
            if (!connection.ReadHead())
            {
                connection.Dispose();
                return false;
            }
        }
        catch (BadRequestException e)
        {
            ErrorLog.Warning($"Invalid request on the worker socket, answered 400: {e.Message}");
            TrySend(connection, BadRequest);
            connection.Dispose();
            return false;
        }
        catch (ConnectionLostException)
        {
            connection.Dispose();
            return false;
        }

        // From here the request is the app's: a sync worker's timeout counts from now (a slow body included).
        Volatile.Write(ref _requestStarted, Stopwatch.GetTimestamp());
        var response = connection.Response;
        response.Begin(connection.Request, keepAlive: !_stopping);
        var keepAlive = false;
        try
        {
            _handler.Serve(connection, response);
            keepAlive = response.Finish();
            // What the app left unread is drained (small) or the connection closes; never read as a next request.
            keepAlive = keepAlive && connection.Body.Drain(connection.ContinueSent || !connection.Request.ExpectContinue ? DrainLimit : 0);
        }
        catch (ConnectionLostException)
        {
            // The front gave up on this request (its client went away, or the worker was too slow).
        }
        catch (BadRequestException e)
        {
            // The body was malformed while the app read it.
            ErrorLog.Warning($"Invalid request body on the worker socket: {e.Message}");
            if (!response.HeadSent)
            {
                TrySend(connection, BadRequest);
            }
        }
        finally
        {
            Volatile.Write(ref _requestStarted, 0);
            _requestDone();
        }
        if (!keepAlive)
        {
            connection.Dispose();
        }
        return keepAlive;
    }

    private static void TrySend(Http1Connection connection, byte[] bytes)
    {
        try
        {
            connection.Send(bytes);
        }
        catch (ConnectionLostException)
        {
            // gone already
        }
    }

    public void Dispose()
    {
        _listener?.Dispose();
        _poller.Dispose();
    }
}
