using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gunicorn.Shared.Contract;

/// <summary>
/// The master-worker contract, in one place for both sides (docs/architecture.md describes it for operators).
/// A worker is the gunicorn-net-worker binary started with <see cref="StartInfoVariable"/> set; it listens on its own
/// Unix socket, writes <see cref="ReadyMessage"/> to the inherited pipe once it accepts, then a heartbeat line every
/// <see cref="HeartbeatInterval"/>. EOF on the pipe tells the master the worker is gone; a failed write tells the
/// worker the master is gone.
/// </summary>
public static class WorkerContract
{
    /// <summary>The worker executable, installed beside gunicorn-net.</summary>
    public const string WorkerExecutable = "gunicorn-net-worker";

    /// <summary>Environment variable carrying <see cref="WorkerStartInfo"/> as JSON.</summary>
    public const string StartInfoVariable = "GUNICORN_NET_WORKER";

    /// <summary>Environment variable carrying the pipe descriptor the worker writes readiness and heartbeats to.</summary>
    public const string PipeVariable = "GUNICORN_NET_WORKER_PIPE";

    public const string ReadyMessage = "ready";

    /// <summary>Sent once when the worker has served its max_requests: the master starts a replacement, then retires it.</summary>
    public const string RecycleMessage = "recycle";

    /// <summary>Heartbeat line: <c>hb REQUESTS_SERVED</c>.</summary>
    public const string HeartbeatPrefix = "hb ";

    /// <summary>gunicorn's WORKER_BOOT_ERROR: the worker could not start (socket, permissions, runtime).</summary>
    public const int WorkerBootError = 3;

    /// <summary>gunicorn's APP_LOAD_ERROR: the app could not be loaded (import error, missing callable, no libpython).</summary>
    public const int AppLoadError = 4;

    /// <summary>
    /// The request header carrying the client's address and port (<c>ADDR PORT</c>) from the front to the worker. The
    /// same name as Gunicorn.AspNetWorker's FrontPeer.Header, which cannot reference this assembly (a test checks).
    /// </summary>
    public const string PeerHeader = "Gunicorn-Net-Peer";

    /// <summary>The worker classes, by gunicorn's names.</summary>
    public const string Sync = "sync", GThread = "gthread", Async = "async", Asgi = "asgi";

    /// <summary>The built-in apps, named with '@' (never a valid Python module): the default greeting and a diagnostic echo.</summary>
    public const string HelloApp = "@hello", EchoApp = "@echo";

    public static bool IsBuiltinApp(string app) => app.StartsWith('@');

    /// <summary>An unmodified ASP.NET Core app: run by <c>dotnet</c> with the startup hook, not by gunicorn-net-worker.</summary>
    public static bool IsAspNetCoreApp(string app) => app.EndsWith(".dll", StringComparison.OrdinalIgnoreCase);

    /// <summary>Anything else is a Python app (<c>module:callable</c>).</summary>
    public static bool IsPythonApp(string app) => !IsBuiltinApp(app) && !IsAspNetCoreApp(app);

    public static TimeSpan HeartbeatInterval(int timeoutSeconds) =>
        TimeSpan.FromSeconds(timeoutSeconds <= 0 ? 1 : Math.Clamp(timeoutSeconds / 4.0, 0.2, 1.0));

    public static string Serialize(WorkerStartInfo info) => JsonSerializer.Serialize(info, ContractJson.Default.WorkerStartInfo);

    public static WorkerStartInfo Deserialize(string json) =>
        JsonSerializer.Deserialize(json, ContractJson.Default.WorkerStartInfo) ?? throw new InvalidOperationException("Empty worker start info.");
}

/// <summary>Source-generated JSON for the contract: no reflection, so the worker runs as a native executable.</summary>
[JsonSerializable(typeof(WorkerStartInfo))]
internal sealed partial class ContractJson : JsonSerializerContext;
