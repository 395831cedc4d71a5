namespace Gunicorn.Backend.Arbiter;

/// <summary>
/// What the arbiter has done since the master started, for metrics: counted on the arbiter loop, read from any thread
/// (a scrape). Totals only grow, as Prometheus counters must, and survive reloads: they belong to the master.
/// </summary>
public sealed class SupervisionCounters
{
    private long _spawns, _timeouts, _crashes, _recycles, _reloads, _failedReloads;

    /// <summary>Worker processes started.</summary>
    public long Spawns => Volatile.Read(ref _spawns);

    /// <summary>Workers killed for exceeding <c>timeout</c> (WORKER TIMEOUT).</summary>
    public long Timeouts => Volatile.Read(ref _timeouts);

    /// <summary>Workers that exited without being asked to (a crash, an OOM kill, a failed boot).</summary>
    public long Crashes => Volatile.Read(ref _crashes);

    /// <summary>Workers replaced after serving <c>max_requests</c>.</summary>
    public long Recycles => Volatile.Read(ref _recycles);

    /// <summary>Reloads that switched to a new generation.</summary>
    public long Reloads => Volatile.Read(ref _reloads);

    /// <summary>Reloads that failed (invalid configuration, an app that cannot load, a front that cannot apply it) and kept the old generation.</summary>
    public long FailedReloads => Volatile.Read(ref _failedReloads);

    internal void Spawned() => Interlocked.Increment(ref _spawns);
    internal void TimedOut() => Interlocked.Increment(ref _timeouts);
    internal void Crashed() => Interlocked.Increment(ref _crashes);
    internal void Recycled() => Interlocked.Increment(ref _recycles);
    internal void Reloaded() => Interlocked.Increment(ref _reloads);
    internal void ReloadFailed() => Interlocked.Increment(ref _failedReloads);
}
