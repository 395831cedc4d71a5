namespace Gunicorn.Backend.Arbiter;

/// <summary>A worker the front may forward to: its routing key, Unix socket and how many requests it takes at once.</summary>
public sealed record WorkerEndpoint(string Key, string SocketPath, int Concurrency);

/// <summary>What the arbiter needs from the front tier. The front knows what each worker is doing; the arbiter decides.</summary>
public interface IFront
{
    /// <summary>Replaces the set of workers requests are forwarded to, atomically.</summary>
    void Publish(IReadOnlyList<WorkerEndpoint> ready);

    /// <summary>Requests currently forwarded to the worker and not yet answered.</summary>
    int InFlight(string workerKey);

    /// <summary>The worker's open WebSockets (upgraded connections), which <see cref="InFlight"/> counts too.</summary>
    int WebSockets(string workerKey) => 0;

    /// <summary>Requests waiting in the front's queue for a worker to be free.</summary>
    int QueuedRequests => 0;

    /// <summary>The worker's oldest in-flight request, e.g. <c>GET /report (31.2 s)</c>, or null.</summary>
    string? DescribeInFlight(string workerKey);

    /// <summary>Answer the worker's in-flight requests with 504: it is being killed for exceeding the timeout.</summary>
    void MarkTimedOut(string workerKey);

    /// <summary>
    /// Reload: applies the new configuration's front settings (bind, limits, TLS, static files, access log, forwarding
    /// rules). Throws, changing nothing, when they cannot be applied (e.g. a new bind address is in use).
    /// </summary>
    Task ApplyAsync(Gunicorn.Settings.Records.GunicornConfig config);

    /// <summary>TERM with a drain period: report unhealthy and close connections after each response, keep serving.</summary>
    void BeginDrain();

    /// <summary>For ctl status: what the per-client limits have refused, or null when none is configured.</summary>
    string? DescribeClientLimits() => null;

    /// <summary>For ctl status: the static file bytes the front has sent with sendfile(2) (zero copy) in its life.</summary>
    long SendfileBytes() => 0;

    /// <summary>Stops accepting clients and lets in-flight requests finish within <paramref name="grace"/>.</summary>
    Task StopAsync(TimeSpan grace);
}
