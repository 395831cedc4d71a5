using System.Diagnostics;
using System.Globalization;
using Gunicorn.Shared.Contract;

namespace Gunicorn.Backend.Arbiter;

/// <summary>
/// An unmodified ASP.NET Core app as a worker: <c>dotnet App.dll</c>, with Gunicorn.AspNetWorker.dll injected as a
/// startup hook that listens on the worker's Unix socket (GUNICORN_NET_WORKER_SOCKET, through its own Kestrel
/// transport) and speaks the worker contract (ready, heartbeat, recycle). TERM is the app host's own graceful shutdown.
/// </summary>
public static class AspNetCoreApp
{
    public const string HookAssembly = "Gunicorn.AspNetWorker.dll";

    private static readonly string[] AddressVariables =
    [
        "ASPNETCORE_URLS", "ASPNETCORE_HTTP_PORTS", "ASPNETCORE_HTTPS_PORTS", "DOTNET_URLS", "DOTNET_HTTP_PORTS", "DOTNET_HTTPS_PORTS",
    ];

    /// <summary>
    /// The worker executable first, which takes the worker's identity (user, group, umask), the app's directory and
    /// the error log (capture_output) and then executes <c>dotnet App.dll</c> in its place, titled as a worker.
    /// </summary>
    public static ProcessStartInfo StartInfo(WorkerStartInfo info, string pipeHandle, IReadOnlyList<string> rawEnv, bool diagnostics)
    {
        var app = Path.GetFullPath(info.App, info.Chdir);
        var start = new ProcessStartInfo(WorkerLauncher.WorkerExecutable) { UseShellExecute = false };
        start.ArgumentList.Add(info.Title);
        RawEnvironment.ApplyTo(start, rawEnv);
        start.Environment[WorkerContract.StartInfoVariable] = WorkerContract.Serialize(info with
        {
            Chdir = Path.GetDirectoryName(app)!,
            Exec = [DotnetHost(), app],
        });
        start.Environment.Remove(Platform.SystemdNotify.SocketVariable);
        // The runtime's diagnostics endpoint is a socket per process in the temporary directory, never removed when
        // a worker is killed (a timeout, an OOM kill): opened only when the operator asks (dotnet_diagnostics).
        if (!diagnostics)
        {
            start.Environment["DOTNET_EnableDiagnostics"] = "0";
        }
        // The worker listens where the front connects, not where the environment's addresses say (container
        // images set ASPNETCORE_HTTP_PORTS): Kestrel would bind them too, or warn that it overrides them.
        foreach (var addresses in AddressVariables)
        {
            start.Environment.Remove(addresses);
        }
        start.Environment["GUNICORN_NET_WORKER_SOCKET"] = info.SocketPath;
        // sync and gthread: a thread for each of the front's connections (as many as the worker serves at once);
        // async (worker_connections, many long-lived requests): Kestrel's own event threads and thread pool.
        start.Environment["GUNICORN_NET_CONNECTION_THREADS"] = info.WorkerClass == WorkerContract.Async ? "0" : "1";
        start.Environment["GUNICORN_NET_TIMEOUT_SECONDS"] = info.TimeoutSeconds.ToString(CultureInfo.InvariantCulture);
        start.Environment["DOTNET_STARTUP_HOOKS"] = Path.Combine(AppContext.BaseDirectory, HookAssembly);
        start.Environment["GUNICORN_NET_WORKER_PIPE"] = pipeHandle;
        start.Environment["GUNICORN_NET_WORKER_HOOKS"] = CommandHooks(info.Hooks);
        start.Environment["GUNICORN_NET_HOOK_TIMEOUT"] = info.Hooks.TimeoutSeconds.ToString(CultureInfo.InvariantCulture);
        start.Environment["GUNICORN_NET_MASTER_PID"] = info.MasterPid.ToString(CultureInfo.InvariantCulture);
        start.Environment["GUNICORN_NET_WORKER_AGE"] = info.Age.ToString(CultureInfo.InvariantCulture);
        start.Environment["GUNICORN_NET_MAX_REQUESTS"] = info.MaxRequests.ToString(CultureInfo.InvariantCulture);
        start.Environment["GUNICORN_NET_HEARTBEAT_SECONDS"] =
            WorkerContract.HeartbeatInterval(info.TimeoutSeconds).TotalSeconds.ToString(CultureInfo.InvariantCulture);
        return start;
    }

    /// <summary>The worker-side command hooks the app's startup hook runs (Gunicorn.AspNetWorker's WorkerHooks): one
    /// line each, the name and the argv, tab-separated. (python: hooks are refused with App.dll at config time.)</summary>
    private static string CommandHooks(WorkerHooks hooks) => string.Join('\n', new[]
        {
            ("post_worker_init", hooks.PostWorkerInit), ("worker_int", hooks.WorkerInt),
            ("worker_abort", hooks.WorkerAbort), ("worker_exit", hooks.WorkerExit),
        }
        .Where(h => h.Item2 is { Kind: HookKind.Command })
        .Select(h => string.Join('\t', [h.Item1, .. h.Item2!.Argv])));

    /// <summary>The dotnet host: DOTNET_ROOT's, the runtime's this master runs on (a JIT build), else the one on PATH.</summary>
    private static string DotnetHost()
    {
        var runtimeDirectory = System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory();
        var roots = new[]
        {
            Environment.GetEnvironmentVariable("DOTNET_ROOT"),
            // .../shared/Microsoft.NETCore.App/10.0.x/ -> ...; empty in a native (AOT) master.
            string.IsNullOrEmpty(runtimeDirectory) ? null : Path.GetFullPath(Path.Combine(runtimeDirectory, "..", "..", "..")),
        };
        // The worker executes it directly (execve does not search PATH), so PATH is searched here.
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries);
        foreach (var directory in roots.Concat(path))
        {
            if (directory is not null && Path.Combine(directory, "dotnet") is var candidate && File.Exists(candidate))
            {
                return candidate;
            }
        }
        return "dotnet";
    }
}
