using Gunicorn.Front.Forwarding;
using Gunicorn.Settings.Records;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Gunicorn.Front.Listeners;

/// <summary>
/// What every listener does with a connection before HTTP, in wire order: the PROXY protocol header (it precedes
/// the TLS handshake), then TLS and the HTTP versions, then the Content-Length rule on the decrypted HTTP/1 bytes.
/// </summary>
public static class ConnectionPipeline
{
    public static void Apply(ListenOptions listen, GunicornConfig config)
    {
        if (config.Proxy.ProxyProtocol)
        {
            var proxy = new ProxyProtocolMiddleware(new TrustedPeers(config.Proxy.ProxyAllowIps),
                TimeSpan.FromSeconds(config.Limits.HeaderTimeoutSeconds));
            listen.Use(next => connection => proxy.InvokeAsync(connection, next));
        }
        TlsSetup.Apply(listen, config.Listeners);
        if (listen.Protocols != HttpProtocols.Http2)
        {
            listen.Use(next => connection => ContentLengthGuard.InvokeAsync(connection, next));
        }
    }
}
