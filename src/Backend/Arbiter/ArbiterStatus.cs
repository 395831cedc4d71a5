namespace Gunicorn.Backend.Arbiter;

/// <summary>
/// What `gunicorn-net ctl status` shows: a snapshot taken on the arbiter loop. MasterAllocatedBytes (the master's managed
/// allocations in its life, in the JSON form) lets a benchmark count what the front allocates per request; SendfileBytes
/// counts the static file bytes sent with sendfile(2); FrontEventThreads is what front_threads gave (0 when unknown).
/// </summary>
public sealed record ArbiterStatus(
    int MasterPid,
    int TargetWorkers,
    int ServingGeneration,
    int? PendingGeneration,
    IReadOnlyList<WorkerStatus> Workers,
    string? LastExit,
    string? LastReload,
    string? ShortOfWorkers,
    string? ClientLimits = null,
    long MasterAllocatedBytes = 0,
    long SendfileBytes = 0,
    int FrontEventThreads = 0);

public sealed record WorkerStatus(
    int Pid,
    int Generation,
    int Age,
    string State,
    double UptimeSeconds,
    long RequestsServed,
    int InFlight,
    int WebSockets = 0);

/// <summary>A control command, answered on the arbiter loop.</summary>
public sealed record ControlRequest(string Command, int? Argument, TaskCompletionSource<object> Reply) : ArbiterEvent;

/// <summary>The answer to <c>ctl reload</c>: whether a new generation started, which, and how the last reload ended.</summary>
public sealed record ReloadReply(bool Started, int Generation, string? LastReload);

/// <summary>The answer to <c>ctl scale</c>: the worker count now wanted.</summary>
public sealed record ScaleReply(int Workers);
