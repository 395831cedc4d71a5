using System.Collections.Frozen;
using System.Net.Sockets;
using Yarp.ReverseProxy.Forwarder;

namespace Gunicorn.Front.Forwarding;

/// <summary>
/// YARP's destinations must be http URIs, so each worker gets a host name of its own (<c>http://g1-w3</c>) and the
/// connection callback maps that name to the worker's Unix socket. The pool is per host, so a connection never
/// outlives its worker's entry and never reaches another worker.
/// </summary>
public sealed class UnixSocketClientFactory : ForwarderHttpClientFactory
{
    private volatile FrozenDictionary<string, string> _sockets = FrozenDictionary<string, string>.Empty;

    public void SetSockets(IEnumerable<KeyValuePair<string, string>> hostToSocket) =>
        _sockets = hostToSocket.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        // Header bytes pass through as they came (obs-text), both ways.
        handler.RequestHeaderEncodingSelector = (_, _) => System.Text.Encoding.Latin1;
        handler.ResponseHeaderEncodingSelector = (_, _) => System.Text.Encoding.Latin1;
        handler.ConnectCallback = async (connection, cancellationToken) =>
        {
            if (!_sockets.TryGetValue(connection.DnsEndPoint.Host, out var path))
            {
                throw new HttpRequestException($"Worker {connection.DnsEndPoint.Host} is no longer in the routing table.");
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
        };
    }
}
