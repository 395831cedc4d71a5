using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Gunicorn.Front.AccessLog;
using Gunicorn.Front.Forwarding;
using Gunicorn.Front.HttpFeatures;
using Gunicorn.Front.Limits;
using Gunicorn.Front.Listeners;
using Gunicorn.Front.Static;
using Gunicorn.Settings.Records;
using Yarp.ReverseProxy.Forwarder;

namespace Gunicorn.Front.Hosting;

/// <summary>
/// One generation of the front: a Kestrel server built from one configuration (limits, TLS, static files, access
/// log, forwarding rules), accepting on duplicates of the master's listening sockets and forwarding through the
/// routing state that all generations share. A reload starts a new generation before the old one drains, the way
/// nginx's new workers take over from the old ones.
/// </summary>
public sealed class FrontGeneration : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly RetirableTransport _transport;
    private readonly AccessLogWriter? _accessLog;
    private CompressedStaticCache? _staticCache;
    private readonly TaskCompletionSource _connectionsClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _connections;
    private volatile bool _retiring;

    public FrontGeneration(GunicornConfig config, FrontRouting routing, IReadOnlyCollection<ListenerSet.Listener> listeners)
    {
        var redirectKeys = config.Http.HttpsRedirectBind.Select(b => b.ToString()).ToHashSet();
        var metrics = config.Metrics.Bind is null ? null : routing.Metrics;
        var builder = Gunicorn.Front.Hosting.FrontHostBuilder.Create();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(config.Pool.GracefulTimeoutSeconds));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            KestrelLimits.Apply(kestrel, config.Limits, config.Listeners.KeepAliveSeconds, config.Listeners.Http2);
            foreach (var listener in listeners)
            {
                // Kestrel closes the descriptor it is given when this generation stops; the master keeps its own.
                var copy = Gunicorn.Shared.Platform.Posix.DupCloseOnExec(listener.Fd);
                kestrel.ListenHandle((ulong)copy, listen =>
                {
                    listen.Use(next => async connection =>
                    {
                        Interlocked.Increment(ref _connections);
                        try
                        {
                            await next(connection);
                        }
                        finally
                        {
                            if (Interlocked.Decrement(ref _connections) == 0 && _retiring)
                            {
                                _connectionsClosed.TrySetResult();
                            }
                        }
                    });
                    if (redirectKeys.Contains(listener.Key))
                    {
                        listen.Use(next => connection =>
                        {
                            connection.Features.Set(HttpsRedirect.Listener.Instance);
                            return next(connection);
                        });
                        ConnectionPipeline.Apply(listen, config with { Listeners = config.Listeners with { Tls = config.Listeners.Tls with { CertFile = null } } });
                        return;
                    }
                    ConnectionPipeline.Apply(listen, config, metrics);
                });
            }
        });
        builder.Services.AddHttpForwarder();
        // A request runs where its socket's completion arrives (the socket engine's thread, see FrontSocketEngine)
        // instead of being queued to the thread pool at each step: Kestrel's parse, the forwarding and the response's
        // send happen in one wake-up, as in nginx's event loop. Nothing on that path blocks (files and the disk buffer
        // are asynchronous), so no connection waits behind another's work longer than that work itself.
        // Kestrel calls listen(2) on every socket it is handed, with its own backlog (512) unless told: `backlog` is
        // applied here, on the shared sockets, so a reload's new generation resizes the kept sockets' queues too (as
        // gunicorn listens again on sockets it inherits).
        builder.Services.Configure<SocketTransportOptions>(o =>
        {
            o.UnsafePreferInlineScheduling = true;
            o.Backlog = config.Listeners.Backlog;
        });
        if (config.Http.Compression.Enabled)
        {
            Compression.AddTo(builder.Services, config.Http.Compression);
        }
        // Registered after Kestrel's own socket transport, so Kestrel binds with this one.
        builder.Services.AddSingleton<RetirableTransport>();
        builder.Services.AddSingleton<Microsoft.AspNetCore.Connections.IConnectionListenerFactory>(sp => sp.GetRequiredService<RetirableTransport>());
        _app = builder.Build();
        _transport = _app.Services.GetRequiredService<RetirableTransport>();
        // First, before anything answers: the connection's guard learns whether a request that may upgrade did.
        _app.Use((context, next) =>
        {
            UpgradeOutcome.WatchResponse(context);
            return next(context);
        });
        if (config.Static.Sendfile && config.Static.Mappings.Count > 0)
        {
            // Beneath every wrapper of the response body (counting, compression): files reach it as files.
            _app.Use((context, next) =>
            {
                SendfileResponseBody.InstallFor(context);
                return next(context);
            });
        }
        if (metrics is not null)
        {
            _app.Use(new Gunicorn.Front.Metrics.MetricsMiddleware(metrics, config.Static.Mappings).InvokeAsync);
        }
        if (routing.StatsdFor(config.Statsd) is { } statsd)
        {
            _app.Use(statsd.InvokeAsync);
        }
        if (AccessLogWriter.IsWanted(config.Logging.AccessLog, config.Logging.Syslog))
        {
            _accessLog = new AccessLogWriter(config.Logging.AccessLog, config.Logging.Syslog);
            _app.UseMiddleware<AccessLogMiddleware>(new AccessLogFormatter(config.Logging.AccessLogFormat), _accessLog);
        }
        _app.Use((context, next) =>
        {
            // keepalive: 0 means no keep-alive at all (nginx's keepalive_timeout 0), not Kestrel's shortest timeout.
            if (routing.Draining || _retiring || config.Listeners.KeepAliveSeconds == 0)
            {
                context.Response.Headers.Connection = "close";
                if (!HttpProtocol.IsHttp11(context.Request.Protocol) && !HttpProtocol.IsHttp10(context.Request.Protocol))
                {
                    // HTTP/2 has no Connection header (Kestrel drops it): a GOAWAY tells the client to go elsewhere,
                    // after the streams it has open.
                    context.Features.Get<IConnectionLifetimeNotificationFeature>()?.RequestClose();
                }
            }
            if (config.Limits.HealthPath is { } health && context.Request.Path.Equals(health))
            {
                var healthy = !routing.Draining && routing.Dispatcher.HasWorkers;
                context.Response.StatusCode = healthy ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
                return context.Response.WriteAsync(healthy ? "ok\n" : routing.Draining ? "draining\n" : "no worker ready\n");
            }
            return next(context);
        });
        _app.UseMiddleware<StrictRequestMiddleware>(config.Limits, config.Proxy, config.Listeners.Http2.MaxHeaderListSize);
        var errorPages = new ErrorPages(config.Http.ErrorPages);
        UseHttpFeatures(config, routing, listeners, redirectKeys, errorPages);
        var internalRedirects = StaticFilesSetup.Use(_app, config.Static.Mappings);
        var forwarding = new ForwardingHandler(_app.Services.GetRequiredService<IHttpForwarder>(), routing.Sockets,
            routing.Dispatcher, routing.InFlight, config, internalRedirects, errorPages);
        _app.Run(forwarding.InvokeAsync);
    }

    /// <summary>nginx's common directives, in the order nginx applies them: redirect, HSTS, limits, then compression
    /// of whatever the static files or the app answer.</summary>
    private void UseHttpFeatures(GunicornConfig config, FrontRouting routing, IReadOnlyCollection<ListenerSet.Listener> listeners,
        IReadOnlySet<string> redirectKeys, ErrorPages errorPages)
    {
        var http = config.Http;
        if (redirectKeys.Count > 0)
        {
            var redirect = new HttpsRedirect(http.HttpsRedirectStatus, http.HttpsPort > 0 ? http.HttpsPort : HttpsPortOf(listeners, redirectKeys),
                config.Limits.HealthPath);
            _app.Use(redirect.InvokeAsync);
        }
        if (http.StrictTransportSecurity is not null || http.ClientLimits.Enabled)
        {
            // The client's address and scheme are needed before static files; the forwarder reuses them.
            var trusted = new TrustedPeers(config.Proxy.ForwardedAllowIps);
            KeyValuePair<string, string>[] secureSchemeHeaders = [.. config.Proxy.SecureSchemeHeaders];
            _app.Use(async (context, next) =>
            {
                if (await ForwardingHandler.ResolveIdentityAsync(context, trusted, secureSchemeHeaders))
                {
                    await next(context);
                }
            });
            if (http.StrictTransportSecurity is { } hsts)
            {
                _app.Use(new StrictTransportSecurity(hsts).InvokeAsync);
            }
            if (http.ClientLimits.Enabled)
            {
                var limits = routing.ClientLimitsFor(http.ClientLimits);
                _app.Use((context, next) => limits.InvokeAsync(context, next, trusted, errorPages));
            }
        }
        if (http.Compression.Enabled)
        {
            if (http.Compression.CacheSize > 0 && config.Static.Mappings.Count > 0)
            {
                _staticCache = new CompressedStaticCache(config.Static.Mappings, http.Compression, http.Compression.CacheSize,
                    _app.Services.GetRequiredService<Microsoft.AspNetCore.ResponseCompression.IResponseCompressionProvider>());
                _app.Use(_staticCache.InvokeAsync);
            }
            _app.Use(OffEventThread.ForCompressionAsync);
            _app.UseResponseCompression();
        }
    }

    /// <summary>The port of the first TCP listener that serves HTTPS (the redirects' target).</summary>
    private static int HttpsPortOf(IReadOnlyCollection<ListenerSet.Listener> listeners, IReadOnlySet<string> redirectKeys)
    {
        foreach (var listener in listeners)
        {
            var colon = listener.Address.LastIndexOf(':');
            if (!redirectKeys.Contains(listener.Key) && !listener.Address.StartsWith("unix:", StringComparison.Ordinal)
                && colon > 0 && int.TryParse(listener.Address[(colon + 1)..], out var port))
            {
                return port;
            }
        }
        return 443;
    }

    public Task StartAsync() => _app.StartAsync();

    /// <summary>
    /// A reload replaced this generation: every response now closes its connection, so clients move to the new
    /// generation between requests. Completes when the last connection has closed or after <paramref name="patience"/>
    /// (the keep-alive timeout closes idle ones meanwhile). Stopping at once would close idle keep-alive connections
    /// under clients that are sending their next request on them: failed requests on every reload.
    /// </summary>
    public async Task RetireAsync(TimeSpan patience)
    {
        _retiring = true;
        // New connections go to the new generation from now on.
        _transport.Retire();
        if (Volatile.Read(ref _connections) == 0)
        {
            return;
        }
        try
        {
            await _connectionsClosed.Task.WaitAsync(patience);
        }
        catch (TimeoutException)
        {
            // Stopping closes what is left.
        }
    }

    /// <summary>Stops accepting and lets this generation's in-flight requests finish within <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        using var deadline = new CancellationTokenSource(grace);
        await _app.StopAsync(deadline.Token);
    }

    /// <summary>USR1: the access log file is reopened.</summary>
    public void ReopenLogs() => _accessLog?.Reopen();

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        _staticCache?.Dispose();
        if (_accessLog is not null)
        {
            await _accessLog.DisposeAsync();
        }
    }
}

/// <summary>What every front generation shares: the workers to forward to, their sockets, what is in flight.</summary>
public sealed class FrontRouting(int queueLimit)
{
    public WorkerSockets Sockets { get; } = new();
    public WorkerDispatcher Dispatcher { get; } = new(queueLimit);
    public InFlightRequests InFlight { get; } = new();

    private ClientLimits? _clientLimits;

    /// <summary>The per-client limiters for these settings: the same instance (and counters) while a reload keeps
    /// them, a new one when they change. The old one is left to the collector: requests of the retiring generation
    /// may still hold its leases.</summary>
    public ClientLimits ClientLimitsFor(ClientLimitsConfig config)
    {
        lock (this)
        {
            if (_clientLimits?.Config != config)
            {
                _clientLimits = new ClientLimits(config);
            }
            return _clientLimits;
        }
    }

    private (StatsdConfig Config, Gunicorn.Front.Metrics.StatsdClient? Client)? _statsd;

    /// <summary>The StatsD client for these settings (null when statsd_host is unset); replaced when a reload changes them.</summary>
    public Gunicorn.Front.Metrics.StatsdClient? StatsdFor(StatsdConfig config)
    {
        lock (this)
        {
            if (_statsd is not { } current || current.Config != config)
            {
                _statsd?.Client?.Dispose();
                _statsd = (config, Gunicorn.Front.Metrics.StatsdClient.Create(config));
            }
            return _statsd.Value.Client;
        }
    }

    public Gunicorn.Front.Metrics.StatsdClient? Statsd => _statsd?.Client;

    /// <summary>Prometheus metrics: one registry for the master's lifetime (counted only while metrics_bind is set).</summary>
    public Gunicorn.Front.Metrics.PrometheusMetrics Metrics { get; } = new();

    /// <summary>For ctl status; null when no limit is configured.</summary>
    public ClientLimits? CurrentClientLimits => _clientLimits;

    private volatile bool _draining;

    /// <summary>TERM with a drain period: health checks fail and every response closes its connection.</summary>
    public bool Draining
    {
        get => _draining;
        set => _draining = value;
    }
}
