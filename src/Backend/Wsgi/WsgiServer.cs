using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using Gunicorn.Backend.Logging;
using Gunicorn.Backend.Platform;
using Gunicorn.Backend.Wsgi.Http;
using Python.Runtime;

namespace Gunicorn.Backend.Wsgi;

/// <summary>
/// A WSGI worker's HTTP/1.1 server on its Unix socket, shaped like gunicorn's own workers. One event loop polls the
/// listener and the idle keep-alive connections from the front. <c>sync</c> serves a ready connection on the loop's
/// own thread, the thread that imported the app, so a request costs one wake-up, a receive and a send, and apps that
/// expect a single thread (a module-level SQLite connection) keep working. <c>gthread</c> hands the ready connection to
/// one of its Python threads and takes it back when the response is written.
/// </summary>
public sealed class WsgiServer : IDisposable
{
    private const string InternalError = "500 Internal Server Error\0Content-Type\0text/plain";

    private readonly string _socketPath;
    private readonly WsgiApplication _app;
    private readonly PythonThreads _python;
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

    /// <param name="threaded">gthread: serve on the Python threads other than the loop's.</param>
    /// <param name="requestDone">Called after each response (the master's request count, max_requests).</param>
    public WsgiServer(string socketPath, WsgiApplication app, PythonThreads python, bool threaded, Action requestDone)
    {
        _socketPath = socketPath;
        _app = app;
        _python = python;
        _threaded = threaded;
        _requestDone = requestDone;
    }

    /// <summary>Completes when the loop has stopped: after <see cref="Stop"/> and the last in-flight response.</summary>
    public Task Completion { get; private set; } = Task.CompletedTask;

    /// <summary>Listens on the socket (failures throw here, before readiness is reported) and starts the loop.</summary>
    public void Start()
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(_socketPath));
            listener.Listen(512);
            listener.Blocking = false; // accept only what poll announced, never wait for a peer that gave up
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        _listener = listener;
        Completion = _python.RunAsync(() =>
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

    /// <summary>Runs on a Python thread holding the GIL, released while it waits.</summary>
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
                var listenerIndex = stopping ? -1 : _poller.Add(listenerFd);
                _watched.Clear();
                foreach (var connection in _idle)
                {
                    _poller.Add(connection.Fd);
                    _watched.Add(connection);
                }
                var inFlight = Volatile.Read(ref _busy);
                using (new GilReleased())
                {
                    // Once stopping, one last look without waiting serves what the front had already sent.
                    _poller.Wait(stopping && inFlight == 0 ? 0 : -1);
                }
                var first = stopping ? 1 : 2;
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
                    AcceptPending();
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

    private void AcceptPending()
    {
        while (true)
        {
            Socket accepted;
            try
            {
                accepted = _listener!.Accept();
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.ConnectionAborted)
            {
                return;
            }
            accepted.Blocking = true;
            _idle.Add(new Http1Connection(accepted));
        }
    }

    private void Dispatch(Http1Connection connection)
    {
        if (!_threaded)
        {
            if (Serve(connection))
            {
                _idle.Add(connection);
            }
            return;
        }
        Interlocked.Increment(ref _busy);
        _python.Post(() =>
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

    /// <summary>Serves one request on <paramref name="connection"/>, holding the GIL; false when the connection is done.</summary>
    private bool Serve(Http1Connection connection)
    {
        Http1Request? request;
        try
        {
            using (new GilReleased())
            {
                request = connection.ReadRequest();
            }
        }
        catch (BadRequestException e)
        {
            ErrorLog.Warning($"Invalid request on the worker socket, answered 400: {e.Message}");
            TryWrite(connection, "400 Bad Request\0Content-Type\0text/plain", "Bad Request\n"u8.ToArray(), sendBody: true);
            request = null;
        }
        catch (SocketException)
        {
            request = null;
        }
        if (request is null)
        {
            connection.Dispose();
            return false;
        }
        string head;
        byte[] payload;
        Volatile.Write(ref _requestStarted, Stopwatch.GetTimestamp());
        try
        {
            (head, payload) = _app.Serve(request);
        }
        catch (PythonException e)
        {
            // The runner turns app exceptions into 500s itself; this is the runner failing (out of memory, a bug).
            ErrorLog.Error($"Error handling request {request.Target}\n{e.Format()}");
            (head, payload) = (InternalError, "Internal Server Error\n"u8.ToArray());
        }
        Volatile.Write(ref _requestStarted, 0);
        var keepAlive = request.KeepAlive && !_stopping;
        try
        {
            keepAlive &= TryWrite(connection, head, payload, sendBody: !request.IsHead, keepAlive);
        }
        finally
        {
            _requestDone();
        }
        if (!keepAlive)
        {
            connection.Dispose();
        }
        return keepAlive;
    }

    private static bool TryWrite(Http1Connection connection, string head, byte[] payload, bool sendBody, bool keepAlive = false)
    {
        try
        {
            using (new GilReleased())
            {
                connection.WriteResponse(head, payload, sendBody, keepAlive);
            }
            return true;
        }
        catch (SocketException)
        {
            return false; // the front gave up on this request (client gone, or the worker was too slow)
        }
    }

    public void Dispose()
    {
        _listener?.Dispose();
        _poller.Dispose();
    }
}
