using System.Text.Json;

namespace Gunicorn.Backend.Contract;

/// <summary>
/// The master-worker contract, in one place for both sides (docs/architecture.md describes it for operators).
/// A worker is the gunicorn-net binary started with <see cref="StartInfoVariable"/> set; it listens on its own Unix
/// socket, writes <see cref="ReadyMessage"/> to the inherited pipe once it accepts, then a heartbeat line every
/// <see cref="HeartbeatInterval"/>. EOF on the pipe tells the master the worker is gone; a failed write tells the
/// worker the master is gone.
/// </summary>
public static class WorkerContract
{
    /// <summary>Environment variable carrying <see cref="WorkerStartInfo"/> as JSON; its presence selects worker mode.</summary>
    public const string StartInfoVariable = "GUNICORN_NET_WORKER";

    /// <summary>Environment variable carrying the pipe handle the worker writes readiness and heartbeats to.</summary>
    public const string PipeVariable = "GUNICORN_NET_WORKER_PIPE";

    public const string ReadyMessage = "ready";

    /// <summary>Sent once when the worker has served its max_requests: the master starts a replacement, then retires it.</summary>
    public const string RecycleMessage = "recycle";

    /// <summary>Heartbeat line: <c>hb REQUESTS_SERVED</c>.</summary>
    public const string HeartbeatPrefix = "hb ";

    /// <summary>gunicorn's WORKER_BOOT_ERROR: the worker could not start (socket, permissions, runtime).</summary>
    public const int WorkerBootError = 3;

    /// <summary>gunicorn's APP_LOAD_ERROR: the app could not be loaded (import error, missing callable).</summary>
    public const int AppLoadError = 4;

    /// <summary>The request header carrying the client's address and port from the front to the worker.</summary>
    public const string PeerHeader = Gunicorn.AspNetWorker.FrontPeer.Header;

    public static TimeSpan HeartbeatInterval(int timeoutSeconds) =>
        TimeSpan.FromSeconds(timeoutSeconds <= 0 ? 1 : Math.Clamp(timeoutSeconds / 4.0, 0.2, 1.0));

    public static bool IsWorkerProcess => Environment.GetEnvironmentVariable(StartInfoVariable) is not null;

    public static string Serialize(WorkerStartInfo info) => JsonSerializer.Serialize(info);

    public static WorkerStartInfo Deserialize(string json) =>
        JsonSerializer.Deserialize<WorkerStartInfo>(json) ?? throw new InvalidOperationException("Empty worker start info.");
}
