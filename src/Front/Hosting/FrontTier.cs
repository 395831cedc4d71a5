using Gunicorn.Backend.Arbiter;
using Gunicorn.Backend.Workers;
using Gunicorn.Front.AccessLog;
using Gunicorn.Front.Forwarding;
using Gunicorn.Front.Limits;
using Gunicorn.Front.Listeners;
using Gunicorn.Front.Static;
using Gunicorn.Settings.Records;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Yarp.ReverseProxy.Forwarder;

namespace Gunicorn.Front.Hosting;

/// <summary>The front tier: Kestrel listeners and the YARP forwarder to the workers, as the arbiter sees it.</summary>
public sealed class FrontTier : IFront, IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly WorkerSockets _sockets = new();
    private readonly AccessLogWriter? _accessLog;
    private volatile bool _draining;
    private readonly WorkerDispatcher _dispatcher;
    private readonly InFlightRequests _inFlight = new();

    /// <summary>Sockets passed by systemd; when there are any, they replace <c>bind</c>.</summary>
    public IReadOnlyList<int> SocketActivated { get; } = SystemdActivation.TakeInheritedSockets();

    public FrontTier(GunicornConfig config)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<IHostLifetime, NoSignalLifetime>();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(config.Pool.GracefulTimeoutSeconds));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            KestrelLimits.Apply(kestrel, config.Limits, config.Listeners.KeepAliveSeconds);
            if (SocketActivated.Count > 0)
            {
                foreach (var fd in SocketActivated)
                {
                    kestrel.ListenHandle((ulong)fd, listen => ConnectionPipeline.Apply(listen, config));
                }
                return;
            }
            foreach (var bind in config.Listeners.Bind)
            {
                ListenerBinder.Bind(kestrel, bind, config);
            }
        });
        builder.WebHost.UseSockets(sockets => sockets.Backlog = config.Listeners.Backlog);

        builder.Services.AddHttpForwarder();
        _app = builder.Build();
        _dispatcher = new WorkerDispatcher(config.Limits.RequestQueueSize);
        if (config.Logging.AccessLog is { } accessLog)
        {
            _accessLog = new AccessLogWriter(accessLog);
            _app.UseMiddleware<AccessLogMiddleware>(new AccessLogFormatter(config.Logging.AccessLogFormat), _accessLog);
        }
        _app.Use((context, next) =>
        {
            if (_draining)
            {
                context.Response.Headers.Connection = "close";
            }
            if (config.Limits.HealthPath is { } health && context.Request.Path.Equals(health))
            {
                var healthy = !_draining && _dispatcher.HasWorkers;
                context.Response.StatusCode = healthy ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
                return context.Response.WriteAsync(healthy ? "ok\n" : _draining ? "draining\n" : "no worker ready\n");
            }
            return next(context);
        });
        _app.UseMiddleware<StrictRequestMiddleware>(config.Limits, config.Proxy.HeaderMap);
        StaticFilesSetup.Use(_app, config.Static.Mappings);
        var forwarding = new ForwardingHandler(_app.Services.GetRequiredService<IHttpForwarder>(), _sockets, _dispatcher, _inFlight, config);
        _app.Run(forwarding.InvokeAsync);
    }

    /// <summary>Opens the listeners; returns the addresses actually bound (port 0 becomes a real port).</summary>
    public async Task<IReadOnlyList<string>> StartAsync()
    {
        await _app.StartAsync();
        return _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToList() ?? [];
    }

    public void Publish(IReadOnlyList<WorkerEndpoint> ready)
    {
        // Sockets first: a worker must never be chosen before its name can be connected.
        _sockets.SetPaths(ready.Select(w => KeyValuePair.Create(w.Key, w.SocketPath)));
        _dispatcher.Publish(ready);
        _inFlight.Prune(ready.Select(w => w.Key).ToHashSet());
    }

    public int InFlight(string workerKey) => _inFlight.Count(workerKey);

    public string? DescribeInFlight(string workerKey) => _inFlight.DescribeOldest(workerKey);

    public void MarkTimedOut(string workerKey) => _inFlight.MarkTimedOut(workerKey);

    public void BeginDrain() => _draining = true;

    public async Task StopAsync(TimeSpan grace)
    {
        using var deadline = new CancellationTokenSource(grace);
        await _app.StopAsync(deadline.Token);
    }

    /// <summary>USR1: the access log file is reopened (the error log is reopened by the arbiter).</summary>
    public void ReopenLogs() => _accessLog?.Reopen();

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        if (_accessLog is not null)
        {
            await _accessLog.DisposeAsync();
        }
    }
}
