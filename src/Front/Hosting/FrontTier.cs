using Gunicorn.Backend.Arbiter;
using Gunicorn.Shared.Logging;
using Gunicorn.Front.Listeners;
using Gunicorn.Front.Metrics;
using Gunicorn.Settings.Records;

namespace Gunicorn.Front.Hosting;

/// <summary>
/// The front tier as the arbiter sees it: the master's listening sockets, the routing state, and the front
/// generation serving now. A reload applies the new configuration's front settings (bind, limits, TLS, static files,
/// access log, forwarding rules, buffering) by starting a new generation on the same sockets and draining the old.
/// </summary>
public sealed class FrontTier : IFront, IAsyncDisposable
{
    private readonly ListenerSet _listeners = new();
    private readonly FrontRouting _routing;
    private readonly List<Task> _draining = [];
    private GunicornConfig _config;
    private FrontGeneration? _current;
    private MetricsServer? _metricsServer;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _backlogReporting;

    /// <summary>enable_backlog_metric: gunicorn sends gunicorn.backlog from its arbiter loop; here, once a second.</summary>
    private async Task ReportBacklogAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(stopping))
            {
                if (_config.Statsd.BacklogMetric && _routing.Statsd is { } statsd)
                {
                    statsd.Backlog(_listeners.Backlog());
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    public FrontTier(GunicornConfig config)
    {
        _config = config;
        _routing = new FrontRouting(config.Limits.RequestQueueSize);
        _routing.Metrics.ObserveQueue(() => _routing.Dispatcher.Queued);
        _routing.Metrics.ObserveBacklog(_listeners.Backlog);
        _backlogReporting = ReportBacklogAsync(_stopping.Token);
        var (fds, source) = InheritedSockets.Take();
        _listeners.Adopt(fds, source);
    }

    /// <summary>Where inherited sockets came from (systemd, an old master); they then replace <c>bind</c>.</summary>
    public string? InheritedFrom => _listeners.InheritedFrom;

    /// <summary>USR2: inheritable duplicates of every listening socket, for the new master.</summary>
    public IReadOnlyList<int> DuplicateListenersForNewMaster() => _listeners.DuplicateForNewMaster();

    /// <summary>Opens the listeners and starts serving; returns the addresses bound (port 0 made real).</summary>
    /// <exception cref="IOException">A bind could not be opened.</exception>
    /// <exception cref="MetricsBindException">metrics_bind could not be opened.</exception>
    public async Task<IReadOnlyList<string>> StartAsync()
    {
        _metricsServer = await StartMetricsAsync(_config.Metrics, null);
        try
        {
            _current = await StartAsync(_config, _listeners.Prepare(AllBinds(_config), _config.Listeners.Backlog, _config.Listeners.ReusePort));
        }
        catch
        {
            await StopMetricsAsync(_metricsServer, null);
            throw;
        }
        return Addresses(_config);
    }

    /// <summary>The arbiter whose workers and counters /metrics reports.</summary>
    public void AttachSupervisor(System.Threading.Channels.ChannelWriter<ArbiterEvent> events, SupervisionCounters counters) =>
        _routing.Metrics.Attach(events, counters);

    /// <summary>A metrics server for <paramref name="config"/>: the running one when its address is unchanged.</summary>
    private async Task<MetricsServer?> StartMetricsAsync(MetricsConfig config, MetricsServer? running)
    {
        if (config.Bind is null || running?.Bind == config.Bind)
        {
            return config.Bind is null ? null : running;
        }
        var server = await MetricsServer.StartAsync(config.Bind, _routing.Metrics.Registry);
        ErrorLog.Info($"Serving metrics at: {server.Address}/metrics ({Environment.ProcessId})");
        return server;
    }

    /// <summary>Stops <paramref name="server"/> unless it is <paramref name="kept"/>.</summary>
    private static async Task StopMetricsAsync(MetricsServer? server, MetricsServer? kept)
    {
        if (server is not null && server != kept)
        {
            await server.DisposeAsync();
        }
    }

    /// <summary>
    /// Applies a reloaded configuration's front settings: new binds are opened, a new generation starts on every
    /// socket, and only then does the old generation drain (within graceful_timeout) and dropped binds close.
    /// When anything fails, the current generation and its sockets keep serving unchanged.
    /// </summary>
    public async Task ApplyAsync(GunicornConfig config)
    {
        var before = Addresses(_config);
        var old = _current!;
        var metricsServer = await StartMetricsAsync(config.Metrics, _metricsServer);
        ListenerSet.Change change;
        try
        {
            change = _listeners.Prepare(AllBinds(config), config.Listeners.Backlog, config.Listeners.ReusePort);
            _current = await StartAsync(config, change);
        }
        catch
        {
            await StopMetricsAsync(metricsServer, _metricsServer);
            throw;
        }
        await StopMetricsAsync(_metricsServer, metricsServer);
        _metricsServer = metricsServer;
        var dropped = change.Dropped;
        _routing.Dispatcher.QueueLimit = config.Limits.RequestQueueSize;
        foreach (var address in Addresses(config).Except(before))
        {
            ErrorLog.Info($"Listening at: {address} ({Environment.ProcessId})");
        }
        foreach (var listener in dropped)
        {
            ErrorLog.Info($"Closing listener {listener.Address} (no longer in bind) once its requests are done");
        }
        if (config.Listeners.ReusePort != _config.Listeners.ReusePort)
        {
            ErrorLog.Warning($"reuse_port is now {(config.Listeners.ReusePort ? "on" : "off")} for new binds only: a socket's SO_REUSEPORT is set when it is " +
                "opened, so the listeners kept by this reload keep theirs until a restart (or USR2)");
        }
        _config = config;
        _draining.RemoveAll(drain => drain.IsCompleted);
        _draining.Add(DrainAsync(old, dropped, TimeSpan.FromSeconds(config.Pool.GracefulTimeoutSeconds),
            TimeSpan.FromSeconds(config.Listeners.KeepAliveSeconds + 1)));
    }

    /// <summary>A new generation on the listeners <paramref name="change"/> wants; on failure nothing changes.</summary>
    private async Task<FrontGeneration> StartAsync(GunicornConfig config, ListenerSet.Change change)
    {
        FrontGeneration? generation = null;
        try
        {
            generation = new FrontGeneration(config, _routing, change.Wanted);
            await generation.StartAsync();
        }
        catch
        {
            if (generation is not null)
            {
                await generation.DisposeAsync();
            }
            _listeners.Abort(change);
            throw;
        }
        _listeners.Commit(change);
        return generation;
    }

    private async Task DrainAsync(FrontGeneration old, IReadOnlyList<ListenerSet.Listener> dropped, TimeSpan grace, TimeSpan keepAlive)
    {
        try
        {
            // Its connections close themselves after their next response, or by keep-alive timeout.
            await old.RetireAsync(keepAlive < grace ? keepAlive : grace);
            await old.StopAsync(grace);
        }
        catch (OperationCanceledException)
        {
            ErrorLog.Warning($"The previous front generation still had requests after graceful_timeout ({grace.TotalSeconds:0.#} s); they were cut off.");
        }
        await old.DisposeAsync();
        foreach (var listener in dropped)
        {
            _listeners.Close(listener);
        }
    }

    private IReadOnlyList<string> Addresses(GunicornConfig config)
    {
        var redirects = config.Http.HttpsRedirectBind.Select(b => b.ToString()).ToHashSet();
        return _listeners.Current.Select(l => redirects.Contains(l.Key)
            ? "http://" + l.Address + " (redirects to HTTPS)"
            : (config.Listeners.Tls.Enabled ? "https://" : "http://") + l.Address).ToList();
    }

    /// <summary>The listeners a configuration wants: bind, and the plaintext ones that redirect to it.</summary>
    private static IReadOnlyList<Gunicorn.Settings.Types.BindAddress> AllBinds(GunicornConfig config) =>
        [.. config.Listeners.Bind, .. config.Http.HttpsRedirectBind];

    public long SendfileBytes() => Listeners.SendfileOutput.BytesSent;

    public string? DescribeClientLimits() => _routing.CurrentClientLimits is { } limits
        ? $"{limits.Counts.RefusedByRate} refused by limit_req_rate, {limits.Counts.Delayed} delayed, {limits.Counts.RefusedByConnections} refused by limit_conn"
        : null;

    public void Publish(IReadOnlyList<WorkerEndpoint> ready)
    {
        // Sockets first: a worker must never be chosen before its name can be connected.
        _routing.Sockets.SetPaths(ready.Select(w => KeyValuePair.Create(w.Key, w.SocketPath)));
        _routing.Dispatcher.Publish(ready);
        _routing.InFlight.Prune(ready.Select(w => w.Key).ToHashSet());
        _routing.Statsd?.Workers(ready.Count);
    }

    public int InFlight(string workerKey) => _routing.InFlight.Count(workerKey);

    public int WebSockets(string workerKey) => _routing.InFlight.CountWebSockets(workerKey);

    public int QueuedRequests => _routing.Dispatcher.Queued;

    public string? DescribeInFlight(string workerKey) => _routing.InFlight.DescribeOldest(workerKey);

    public void MarkTimedOut(string workerKey) => _routing.InFlight.MarkTimedOut(workerKey);

    public void BeginDrain() => _routing.Draining = true;

    public async Task StopAsync(TimeSpan grace)
    {
        if (_current is not null)
        {
            await _current.StopAsync(grace);
        }
    }

    /// <summary>USR1: the access log file is reopened (the error log is reopened by the arbiter).</summary>
    public void ReopenLogs() => _current?.ReopenLogs();

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _backlogReporting;
        await StopMetricsAsync(_metricsServer, null);
        await Task.WhenAll(_draining);
        if (_current is not null)
        {
            await _current.DisposeAsync();
        }
        _listeners.Dispose();
    }
}
