using System.Collections.Frozen;
using System.Net.Sockets;
using System.Text;

namespace Gunicorn.Front.Forwarding;

/// <summary>
/// The HTTP client to the workers. Each worker is addressed as a host name of its own (<c>http://g1-w3</c>) so the
/// connection pool is per worker; the connect callback maps that name to the worker's Unix socket.
/// </summary>
public sealed class WorkerSockets
{
    private volatile FrozenDictionary<string, string> _paths = FrozenDictionary<string, string>.Empty;

    public HttpMessageInvoker Client { get; }

    public WorkerSockets()
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            UseCookies = false,
            ActivityHeadersPropagator = null,
            // Idle pooled connections to a worker are cheap (a Unix socket), but must not outlive long quiet spells.
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            // Header bytes pass through as they came (obs-text), both ways.
            RequestHeaderEncodingSelector = (_, _) => Encoding.Latin1,
            ResponseHeaderEncodingSelector = (_, _) => Encoding.Latin1,
            ConnectCallback = ConnectAsync,
        };
        Client = new HttpMessageInvoker(handler, disposeHandler: true);
    }

    public void SetPaths(IEnumerable<KeyValuePair<string, string>> keyToPath) =>
        _paths = keyToPath.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        if (!_paths.TryGetValue(context.DnsEndPoint.Host, out var path))
        {
            throw new WorkerGoneException(context.DnsEndPoint.Host);
        }
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

/// <summary>The worker left the routing table between being chosen and being connected to.</summary>
public sealed class WorkerGoneException(string key) : IOException($"Worker {key} is no longer in the routing table.");
