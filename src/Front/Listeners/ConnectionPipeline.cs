using Gunicorn.Front.Forwarding;
using Gunicorn.Settings.Records;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Gunicorn.Front.Listeners;

/// <summary>
/// What every listener does with a connection before HTTP, in wire order: the PROXY protocol header (it precedes
/// the TLS handshake), then TLS and the HTTP versions, then the Content-Length rule on the decrypted HTTP/1 bytes.
/// On plaintext listeners with static files, the output is sent by <see cref="SendfileOutput"/> (zero-copy file
/// bodies); on every listener, a client that takes nothing for send_timeout is cut off (<see cref="SendTimeoutOutput"/>).
/// </summary>
public static class ConnectionPipeline
{
    public static void Apply(ListenOptions listen, GunicornConfig config, Metrics.PrometheusMetrics? metrics = null)
    {
        var sendTimeout = TimeSpan.FromSeconds(config.Limits.SendTimeoutSeconds);
        if (config.Static.Sendfile && config.Static.Mappings.Count > 0 && !config.Listeners.Tls.Enabled)
        {
            // Static files may leave through sendfile(2): this connection's output is sent by SendfileOutput.
            listen.Use(next => connection => SendfileOutput.InvokeAsync(connection, next, sendTimeout));
        }
        // Inside SendfileOutput (it times what Kestrel writes into that loop's pipe) and outside TLS (encrypted
        // bytes are what the client takes).
        listen.Use(next => connection => SendTimeoutOutput.InvokeAsync(connection, next, sendTimeout));
        if (config.Proxy.ProxyProtocol)
        {
            var proxy = new ProxyProtocolMiddleware(new TrustedPeers(config.Proxy.ProxyAllowIps),
                TimeSpan.FromSeconds(config.Limits.HeaderTimeoutSeconds));
            listen.Use(next => connection => proxy.InvokeAsync(connection, next));
        }
        var countHandshakes = metrics is not null && config.Listeners.Tls.Enabled;
        if (countHandshakes)
        {
            // Kestrel ends a connection whose handshake failed without telling the middleware before it: the
            // handshake succeeded when the middleware after it ran.
            listen.Use(next => async connection =>
            {
                var handshake = new TlsHandshakeSeen();
                connection.Features.Set(handshake);
                await next(connection);
                if (!handshake.Completed)
                {
                    metrics!.TlsHandshake(succeeded: false);
                }
            });
        }
        TlsSetup.Apply(listen, config.Listeners);
        if (countHandshakes)
        {
            listen.Use(next => connection =>
            {
                connection.Features.Get<TlsHandshakeSeen>()!.Completed = true;
                metrics!.TlsHandshake(succeeded: true);
                return next(connection);
            });
        }
        if (listen.Protocols != HttpProtocols.Http2)
        {
            listen.Use(next => connection => ContentLengthGuard.InvokeAsync(connection, next));
        }
    }

    private sealed class TlsHandshakeSeen
    {
        public bool Completed { get; set; }
    }
}
