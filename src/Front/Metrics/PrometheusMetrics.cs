using System.Globalization;
using System.Threading.Channels;
using Gunicorn.Backend.Arbiter;
using Prometheus;

namespace Gunicorn.Front.Metrics;

/// <summary>
/// The master's metrics in the Prometheus text format (prometheus-net: stable, AOT-clean, the exposition format
/// itself rather than OpenTelemetry's still-beta exporter). One registry for the master's lifetime, shared by every
/// front generation, so counts span reloads and a scrape during one counts both generations once. Request metrics are
/// counted as requests end; the arbiter's (workers, spawns, reloads) and each worker's memory and CPU are read when
/// scraped.
/// </summary>
public sealed class PrometheusMetrics
{
    private static readonly TimeSpan SupervisorPatience = TimeSpan.FromSeconds(2);
    private static readonly long ClockTicksPerSecond = 100; // USER_HZ, fixed at 100 on Linux for /proc's utime and stime
    private static readonly HashSet<string> KnownMethods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"];

    private readonly Counter _requests, _requestBytes, _responseBytes, _frontErrors, _tlsHandshakes;
    private readonly Histogram _duration, _queueWait;
    private readonly Gauge _inFlight, _queued;
    private readonly Counter _spawns, _timeouts, _crashes, _recycles, _reloads, _failedReloads;
    private readonly Gauge _workers, _servingGeneration, _workerMemory;
    private readonly Counter _workerCpu, _workerRequests;
    private readonly HashSet<string[]> _workerSeries = new(LabelsComparer.Instance);
    private readonly Gauge _backlog, _webSocketsOpen;
    private readonly Counter _webSockets;
    private Func<int>? _queueDepth;
    private Func<int>? _listenBacklog;
    private (ChannelWriter<ArbiterEvent> Events, SupervisionCounters Counters)? _supervisor;

    public PrometheusMetrics()
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        var make = Prometheus.Metrics.WithCustomRegistry(Registry);
        Counter Count(string name, string help, params string[] labels) =>
            make.CreateCounter(name, help, new CounterConfiguration { LabelNames = labels });
        Gauge Gauge(string name, string help, params string[] labels) =>
            make.CreateGauge(name, help, new GaugeConfiguration { LabelNames = labels });

        _requests = Count("gunicorn_requests_total", "Requests answered, by method, status class (2xx...) and route (app, static, front).", "method", "status_class", "route");
        _duration = make.CreateHistogram("gunicorn_request_duration_seconds", "Time from the request's arrival to the end of its response.",
            new HistogramConfiguration { LabelNames = ["route"], Buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        _requestBytes = Count("gunicorn_request_body_bytes_total", "Request body bytes read from clients.");
        _responseBytes = Count("gunicorn_response_body_bytes_total", "Response body bytes sent to clients.");
        _inFlight = Gauge("gunicorn_requests_in_flight", "Requests being answered now.");
        _queued = Gauge("gunicorn_request_queue_depth", "Requests waiting for a free worker (bounded by request_queue_size).");
        _queueWait = make.CreateHistogram("gunicorn_request_queue_wait_seconds", "Time app requests waited for a free worker.",
            new HistogramConfiguration { Buckets = [0.0001, 0.001, 0.01, 0.1, 0.5, 1, 5, 30] });
        _frontErrors = Count("gunicorn_front_errors_total", "502, 503 and 504 answered by the front because no worker answered (worker gone, queue full, timeout).", "status");
        _backlog = Gauge("gunicorn_listen_backlog", "Connections waiting in the TCP listeners' accept queues.");
        _webSockets = Count("gunicorn_websocket_connections_total", "WebSocket (HTTP/1.1 Upgrade) requests passed to workers.");
        _webSocketsOpen = Gauge("gunicorn_websocket_connections", "WebSocket connections open through the front now.");
        _tlsHandshakes = Count("gunicorn_tls_handshakes_total", "TLS handshakes, by result (ok, failed).", "result");

        _spawns = Count("gunicorn_worker_spawns_total", "Worker processes started.");
        _timeouts = Count("gunicorn_worker_timeouts_total", "Workers killed for exceeding timeout (WORKER TIMEOUT).");
        _crashes = Count("gunicorn_worker_crashes_total", "Workers that exited without being asked to (crash, OOM kill, failed boot).");
        _recycles = Count("gunicorn_worker_recycles_total", "Workers replaced after max_requests.");
        _reloads = Count("gunicorn_reloads_total", "Reloads that switched to a new worker generation.");
        _failedReloads = Count("gunicorn_reload_failures_total", "Reloads that failed; the previous generation kept serving.");
        _workers = Gauge("gunicorn_workers", "Worker processes, by generation and state (booting, ready, retiring, stopping).", "generation", "state");
        _servingGeneration = Gauge("gunicorn_serving_generation", "The worker generation requests are routed to.");
        _workerMemory = Gauge("gunicorn_worker_resident_memory_bytes", "Each worker's resident set size.", "pid", "generation");
        _workerCpu = Count("gunicorn_worker_cpu_seconds_total", "Each worker's user and system CPU time.", "pid", "generation");
        _workerRequests = Count("gunicorn_worker_requests_total", "Requests each worker has served (as of its last heartbeat).", "pid", "generation");

        foreach (var status in new[] { "502", "503", "504" })
        {
            _frontErrors.WithLabels(status); // present from the start: a rate over a missing series is no rate at all
        }
        Registry.AddBeforeCollectCallback(CollectSupervisionAsync);
    }

    public CollectorRegistry Registry { get; }

    /// <summary>The arbiter whose workers and counters a scrape reports (set once the master has one).</summary>
    public void Attach(ChannelWriter<ArbiterEvent> events, SupervisionCounters counters) => _supervisor = (events, counters);

    /// <summary>Where the number of queued requests is read at scrape time.</summary>
    public void ObserveQueue(Func<int> depth) => _queueDepth = depth;

    /// <summary>Where the listeners' accept backlog is read at scrape time.</summary>
    public void ObserveBacklog(Func<int> waiting) => _listenBacklog = waiting;

    /// <summary>A request begins (it counts as in flight until <see cref="Completed"/>).</summary>
    public void Started() => _inFlight.Inc();

    public void Completed(string method, int status, string route, TimeSpan elapsed, long requestBytes, long responseBytes, RequestMark mark)
    {
        _inFlight.Dec();
        var statusClass = status is >= 100 and < 600 ? StatusClasses[status / 100] : "other";
        _requests.WithLabels(KnownMethods.Contains(method) ? method : "other", statusClass, route).Inc();
        _duration.WithLabels(route).Observe(elapsed.TotalSeconds);
        _requestBytes.Inc(requestBytes);
        _responseBytes.Inc(responseBytes);
        if (mark.Forwarded)
        {
            _queueWait.Observe(mark.QueueWait.TotalSeconds);
            if (!mark.WorkerAnswered && status is 502 or 503 or 504)
            {
                _frontErrors.WithLabels(status.ToString(CultureInfo.InvariantCulture)).Inc();
            }
        }
    }

    private static readonly string[] StatusClasses = ["other", "1xx", "2xx", "3xx", "4xx", "5xx"];

    /// <summary>An upgrade request begins; the returned action ends it (the connection closed).</summary>
    public Action WebSocketOpened()
    {
        _webSockets.Inc();
        _webSocketsOpen.Inc();
        return () => _webSocketsOpen.Dec();
    }

    public void TlsHandshake(bool succeeded) => _tlsHandshakes.WithLabels(succeeded ? "ok" : "failed").Inc();

    /// <summary>Two scrapes at once (a pair of Prometheus servers) must not interleave the updates below.</summary>
    private readonly SemaphoreSlim _collecting = new(1, 1);

    private async Task CollectSupervisionAsync(CancellationToken cancel)
    {
        await _collecting.WaitAsync(cancel);
        try
        {
            await CollectSupervisionLockedAsync(cancel);
        }
        finally
        {
            _collecting.Release();
        }
    }

    private async Task CollectSupervisionLockedAsync(CancellationToken cancel)
    {
        _queued.Set(_queueDepth?.Invoke() ?? 0);
        _backlog.Set(_listenBacklog?.Invoke() ?? 0);
        if (_supervisor is not { } supervisor)
        {
            return;
        }
        var counters = supervisor.Counters;
        _spawns.IncTo(counters.Spawns);
        _timeouts.IncTo(counters.Timeouts);
        _crashes.IncTo(counters.Crashes);
        _recycles.IncTo(counters.Recycles);
        _reloads.IncTo(counters.Reloads);
        _failedReloads.IncTo(counters.FailedReloads);

        // The worker list is the arbiter loop's; ask it as `ctl status` does. A loop busy in a hook leaves these
        // series as they were rather than holding the scrape.
        var reply = new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!supervisor.Events.TryWrite(new ControlRequest("status", null, reply)))
        {
            return;
        }
        ArbiterStatus status;
        try
        {
            status = (ArbiterStatus)await reply.Task.WaitAsync(SupervisorPatience, cancel);
        }
        catch (TimeoutException)
        {
            return;
        }
        _servingGeneration.Set(status.ServingGeneration);
        foreach (var labels in _workers.GetAllLabelValues().ToList())
        {
            _workers.RemoveLabelled(labels);
        }
        foreach (var group in status.Workers.GroupBy(w => (w.Generation, w.State)))
        {
            _workers.WithLabels(group.Key.Generation.ToString(CultureInfo.InvariantCulture), group.Key.State).Set(group.Count());
        }
        var present = new HashSet<string[]>(LabelsComparer.Instance);
        foreach (var worker in status.Workers)
        {
            string[] labels = [worker.Pid.ToString(CultureInfo.InvariantCulture), worker.Generation.ToString(CultureInfo.InvariantCulture)];
            present.Add(labels);
            _workerRequests.WithLabels(labels).IncTo(worker.RequestsServed);
            if (ProcessUsage.Read(worker.Pid) is { } usage)
            {
                _workerMemory.WithLabels(labels).Set(usage.ResidentBytes);
                _workerCpu.WithLabels(labels).IncTo((double)usage.CpuTicks / ClockTicksPerSecond);
            }
        }
        // Workers that have exited leave the exposition (their pid may be reused by another process).
        foreach (var gone in _workerSeries.Where(l => !present.Contains(l)).ToList())
        {
            _workerMemory.RemoveLabelled(gone);
            _workerCpu.RemoveLabelled(gone);
            _workerRequests.RemoveLabelled(gone);
            _workerSeries.Remove(gone);
        }
        _workerSeries.UnionWith(present);
    }

    /// <summary>What the front learned about one request on its way through (set by the forwarder).</summary>
    public sealed class RequestMark
    {
        /// <summary>The request went to the app (through the queue to a worker, or a front error in its place).</summary>
        public bool Forwarded { get; set; }

        /// <summary>A worker's response reached the client (at least its head).</summary>
        public bool WorkerAnswered { get; set; }

        public TimeSpan QueueWait { get; set; }
    }

    private sealed class LabelsComparer : IEqualityComparer<string[]>
    {
        public static readonly LabelsComparer Instance = new();

        public bool Equals(string[]? x, string[]? y) => x is not null && y is not null && x.AsSpan().SequenceEqual(y);

        public int GetHashCode(string[] labels) => labels.Aggregate(17, (hash, label) => hash * 31 + label.GetHashCode(StringComparison.Ordinal));
    }
}
