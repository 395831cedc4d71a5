using System.Collections.Frozen;
using System.Net.Sockets;
using Gunicorn.Shared.Logging;

namespace Gunicorn.Front.Forwarding.Transport;

/// <summary>
/// The transport under the forwarder: HTTP/1.1 to the workers over a small pool of kept-alive Unix-socket connections
/// per worker, made for this one job instead of the general-purpose SocketsHttpHandler. A request's head is written
/// from what the forwarder prepared in one buffer (with a small body, one send), the response head is parsed from one
/// receive with spans, and bodies stream on the same connection. Nothing is handed to another thread: the request
/// runs on whichever thread its socket completion arrived on. Each worker is addressed as a host name of its own
/// (<c>http://g1-w3</c>); <see cref="SetPaths"/> maps the names to the workers' sockets.
/// </summary>
public sealed class WorkerHttpHandler : HttpMessageHandler
{
    /// <summary>Idle pooled connections to a worker are cheap (a Unix socket) but must not outlive long quiet spells.</summary>
    internal static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(60);

    private readonly Lock _gate = new();
    private readonly Timer _sweep;
    private volatile FrozenDictionary<string, WorkerPool> _pools =
        new Dictionary<string, WorkerPool>().ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Workers that left the routing table, still reachable for a while: a request that chose one just before the
    /// table changed is still sent to it (it finishes its requests while it stops; if it is gone, the connect fails
    /// and the request is retried on another worker). Their connections are not pooled. Forgotten after IdleTimeout.
    /// </summary>
    private readonly Dictionary<string, (WorkerPool Pool, long Since)> _left = new(StringComparer.OrdinalIgnoreCase);

    public WorkerHttpHandler()
    {
        _sweep = new Timer(static state => ((WorkerHttpHandler)state!).CloseIdle(), this, IdleTimeout / 2, IdleTimeout / 2);
    }

    /// <summary>Replaces the routing table's names: connections to workers that left it are closed.</summary>
    public void SetPaths(IEnumerable<KeyValuePair<string, string>> keyToPath)
    {
        lock (_gate)
        {
            var current = _pools;
            var next = new Dictionary<string, WorkerPool>(StringComparer.OrdinalIgnoreCase);
            foreach (var (key, path) in keyToPath)
            {
                next[key] = current.TryGetValue(key, out var pool) && pool.Path == path ? pool : new WorkerPool(key, path);
            }
            _pools = next.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
            foreach (var (key, pool) in current)
            {
                if (!next.TryGetValue(key, out var kept) || kept != pool)
                {
                    pool.Retire();
                    _left[key] = (pool, Environment.TickCount64);
                }
            }
            foreach (var key in next.Keys)
            {
                _left.Remove(key);
            }
        }
    }

    /// <summary>Idle connections now pooled for the worker (tests watch reuse through it).</summary>
    internal int IdleConnections(string key) => _pools.TryGetValue(key, out var pool) ? pool.IdleCount : 0;

    /// <summary>
    /// One request on one kept-alive connection: the head (and a small body) in one send, the response head from the
    /// first receive. One async method for the whole exchange, so a request costs one state machine here.
    /// </summary>
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        ExchangeAsync(request, cancellationToken).AsTask();

    /// <summary>The exchange itself, with a pooled state machine (the forwarder gets a small task standing for it).</summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<HttpResponseMessage> ExchangeAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var key = WorkerKey(request.RequestUri!);
        if (!_pools.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(key, out var pool) && !TryLeft(key.ToString(), out pool))
        {
            throw new WorkerGoneException(key.ToString());
        }
        var connection = pool.TryRent() ?? await ConnectAsync(pool, cancellationToken);
        while (true)
        {
            try
            {
                var framing = RequestHeadWriter.Write(connection, request);
                Exception? bodyCutShort = null;
                if (request.Content is { } content)
                {
                    var body = new RequestBodyStream(connection, framing);
                    try
                    {
                        await content.CopyToAsync(body, cancellationToken);
                        await body.CompleteAsync(cancellationToken);
                    }
                    catch (Exception e) when (e is IOException or SocketException && !cancellationToken.IsCancellationRequested
                                              && (connection.Answered || connection.HasInputWaiting()))
                    {
                        // The worker answered before taking the whole body (a 413, a 401, a 404) and closed: its answer,
                        // already waiting here, is what the client gets; the connection is not reused.
                        bodyCutShort = e;
                    }
                }
                else
                {
                    await connection.FlushAsync(cancellationToken);
                }
                var isHead = request.Method == HttpMethod.Head;
                while (true)
                {
                    var response = new HttpResponseMessage { RequestMessage = request };
                    var responseContent = new WorkerResponseContent();
                    response.Content = responseContent;
                    int end;
                    while ((end = ResponseHeadParser.FindEnd(connection.Buffered)) < 0)
                    {
                        // Straight into the connection's buffer: no state machine of its own per receive.
                        var space = connection.FreeSpace(ResponseHeadParser.MaxHeadBytes);
                        if (space.IsEmpty)
                        {
                            throw new WorkerProtocolException("a response head larger than 64 KiB");
                        }
                        var read = await connection.ReceiveAsync(space, cancellationToken);
                        if (read == 0 && bodyCutShort is not null)
                        {
                            throw bodyCutShort; // nothing usable came back: the failed send is the story
                        }
                        if (read == 0)
                        {
                            throw connection.Answered
                                ? new HttpRequestException(HttpRequestError.ResponseEnded, "The worker closed the connection in the middle of its response head.")
                                : new ClosedWithoutAnswerException(null);
                        }
                        connection.Advance(read);
                    }
                    var head = ResponseHeadParser.Parse(connection.Buffered[..end], response, isHead, connection.HeaderValues);
                    connection.Consume(end);
                    if (head.StatusCode is >= 100 and < 200 and not 101)
                    {
                        response.Dispose(); // 100 Continue, 103 Early Hints: interim, the final response follows
                        continue;
                    }
                    var keepAlive = head.KeepAlive && bodyCutShort is null && !RequestHeadWriter.AsksToClose(request);
                    if (head.Framing == BodyFraming.Chunked && ResponseBodyStream.WholeChunkedLength(connection.Buffered) is var length and >= 0)
                    {
                        response.Headers.Remove(KnownHeaderNames.TransferEncoding);
                        response.Content.Headers.ContentLength = length;
                    }
                    if (head.Framing != BodyFraming.None)
                    {
                        responseContent.Body = new ResponseBodyStream(this, connection, response, head with { KeepAlive = keepAlive });
                    }
                    else if (keepAlive && connection.Buffered.IsEmpty)
                    {
                        connection.Pool.Return(connection);
                    }
                    else
                    {
                        connection.Dispose();
                    }
                    return response;
                }
            }
            catch (WorkerProtocolException e)
            {
                LogProtocolError(connection.Pool, e);
                connection.Dispose();
                throw;
            }
            catch (Exception e) when (ClosedUnanswered(connection, e))
            {
                connection.Dispose();
                if (!connection.Reused || !CanSendAgain(request) || cancellationToken.IsCancellationRequested)
                {
                    throw e as ClosedWithoutAnswerException ?? new ClosedWithoutAnswerException(e);
                }
                // The worker closed this kept-alive connection as the request went out on it (it was stopping or
                // recycling: a worker ends its idle connections without reading them). As SocketsHttpHandler does, the
                // request is sent once more, on a connection of its own (not reused, so never a third time): a worker
                // that has gone then refuses the connect, which the forwarding handler retries on another worker.
                connection = await ConnectAsync(pool, cancellationToken);
            }
            catch
            {
                connection.Dispose();
                throw;
            }
        }
    }

    private static readonly System.Buffers.SearchValues<char> AuthorityEnds = System.Buffers.SearchValues.Create("/?#\\");

    /// <summary>
    /// The worker a request is for: its URI's host, read from the URI as the forwarder wrote it (<c>http://KEY/...</c>)
    /// rather than through Uri's host properties, which build a normalized copy per request.
    /// </summary>
    internal static ReadOnlySpan<char> WorkerKey(Uri uri)
    {
        var text = uri.OriginalString.AsSpan();
        if (text.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            var authority = text["http://".Length..];
            var end = authority.IndexOfAny(AuthorityEnds);
            authority = end < 0 ? authority : authority[..end];
            // User info or an IP literal: not a worker's name as the dispatcher writes it; Uri decides.
            if (!authority.ContainsAny('@', '['))
            {
                var port = authority.IndexOf(':');
                var host = port < 0 ? authority : authority[..port];
                if (!host.IsEmpty)
                {
                    return host;
                }
            }
        }
        return uri.IdnHost;
    }

    /// <summary>
    /// Methods sent once more when a kept-alive connection was closed under them: a worker that read the request and
    /// then died may have acted on it, so only requests that are safe to repeat (the forwarding handler's rule).
    /// </summary>
    private static bool CanSendAgain(HttpRequestMessage request) =>
        request.Content is null
        && (request.Method == HttpMethod.Get || request.Method == HttpMethod.Head || request.Method == HttpMethod.Options);

    /// <summary>The worker ended the connection (end of stream, or a reset) before a byte of its answer arrived.</summary>
    private static bool ClosedUnanswered(WorkerConnection connection, Exception e) =>
        e is ClosedWithoutAnswerException || (e is SocketException && !connection.Answered && connection.Buffered.IsEmpty);

    private static async ValueTask<WorkerConnection> ConnectAsync(WorkerPool pool, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(pool.EndPoint, cancellationToken);
            return new WorkerConnection(socket, pool);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new HttpRequestException(HttpRequestError.ConnectionError, $"Cannot connect to worker {pool.Key} at {pool.Path}: {e.Message}", e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private bool TryLeft(string key, out WorkerPool pool)
    {
        lock (_gate)
        {
            var found = _left.TryGetValue(key, out var left);
            pool = left.Pool;
            return found;
        }
    }

    internal void Return(WorkerConnection connection) => connection.Pool.Return(connection);

    internal void LogProtocolError(WorkerPool pool, WorkerProtocolException e) =>
        ErrorLog.Warning($"Worker {pool.Key} ({pool.Path}) sent {e.Problem}; the client gets 502 (or a closed connection if its response had started) and the connection to the worker is closed");

    private void CloseIdle()
    {
        var cutoff = Environment.TickCount64 - (long)IdleTimeout.TotalMilliseconds;
        foreach (var pool in _pools.Values)
        {
            pool.CloseIdleSince(cutoff);
        }
        lock (_gate)
        {
            foreach (var (key, left) in _left)
            {
                if (left.Since < cutoff)
                {
                    _left.Remove(key);
                }
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _sweep.Dispose();
            SetPaths([]);
        }
        base.Dispose(disposing);
    }
}

/// <summary>The worker closed the connection (end of stream, or a reset) before sending a byte of its answer.</summary>
public sealed class ClosedWithoutAnswerException(Exception? inner)
    : HttpRequestException(HttpRequestError.ResponseEnded, "The worker closed the connection without answering.", inner);
