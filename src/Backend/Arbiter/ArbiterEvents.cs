namespace Gunicorn.Backend.Arbiter;

/// <summary>Everything that wakes the arbiter loop. Signal handlers and pipe readers only enqueue these.</summary>
public abstract record ArbiterEvent;

public sealed record SignalReceived(int Signal) : ArbiterEvent;

public sealed record WorkerReady(WorkerHandle Worker) : ArbiterEvent;

public sealed record WorkerWantsRecycling(WorkerHandle Worker) : ArbiterEvent;

/// <param name="ArrivedAt">When the line was read from the pipe (Stopwatch timestamp), not when the loop handled it.</param>
public sealed record WorkerHeartbeat(WorkerHandle Worker, long RequestsServed, long ArrivedAt) : ArbiterEvent;

public sealed record WorkerExited(WorkerHandle Worker, int ExitCode) : ArbiterEvent;

/// <summary>A watched file changed (reload: true).</summary>
public sealed record CodeChanged(string Path) : ArbiterEvent;

/// <summary>Another reload was asked for while one was in progress: it runs once that one has ended.</summary>
public sealed record ReloadAgain : ArbiterEvent;
