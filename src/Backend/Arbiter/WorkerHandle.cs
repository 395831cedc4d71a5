using System.Diagnostics;

namespace Gunicorn.Backend.Arbiter;

public enum WorkerState
{
    /// <summary>Spawned, not yet accepting.</summary>
    Booting,

    /// <summary>Accepting; in the routing table if its generation is serving.</summary>
    Ready,

    /// <summary>Out of the routing table, waiting for its in-flight requests before it is sent TERM.</summary>
    Retiring,

    /// <summary>Sent TERM (or killed); waiting for it to exit.</summary>
    Stopping,
}

/// <summary>The arbiter's record of one worker process. Mutated only on the arbiter loop.</summary>
public sealed class WorkerHandle(IWorkerProcess process, WorkerGeneration generation, int age, string socketPath)
{
    public IWorkerProcess Process { get; } = process;
    public int Pid { get; } = process.Pid;

    /// <summary>The generation the worker belongs to, and so the configuration it runs.</summary>
    public WorkerGeneration Generation { get; } = generation;
    public int Age { get; } = age;
    public string SocketPath { get; } = socketPath;

    public string Key => $"g{Generation.Number}-w{Age}";
    public WorkerState State { get; set; } = WorkerState.Booting;
    public long StartedAt { get; } = Stopwatch.GetTimestamp();
    public long LastHeartbeat { get; set; } = Stopwatch.GetTimestamp();
    public long StateSince { get; set; } = Stopwatch.GetTimestamp();
    public long RequestsServed { get; set; }
    public bool RecycleRequested { get; set; }
    public long? AbortedAt { get; set; }
    public bool Killed { get; set; }

    /// <summary>True once the arbiter asked the worker to stop, so its exit is expected rather than a crash.</summary>
    public bool ExitRequested { get; set; }

    public void MoveTo(WorkerState state)
    {
        State = state;
        StateSince = Stopwatch.GetTimestamp();
    }

    public override string ToString() => $"pid:{Pid}";
}
