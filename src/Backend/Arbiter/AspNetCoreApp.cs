using System.Diagnostics;
using System.Globalization;
using Gunicorn.Backend.Contract;

namespace Gunicorn.Backend.Arbiter;

/// <summary>
/// An unmodified ASP.NET Core app as a worker: <c>dotnet App.dll</c>, listening on the worker's Unix socket through
/// ASPNETCORE_URLS, with Gunicorn.AspNetWorker.dll injected as a startup hook to speak the worker contract
/// (ready, heartbeat, recycle). TERM is the app host's own graceful shutdown.
/// </summary>
public static class AspNetCoreApp
{
    public const string HookAssembly = "Gunicorn.AspNetWorker.dll";

    public static bool IsAspNetCoreApp(string app) => app.EndsWith(".dll", StringComparison.OrdinalIgnoreCase);

    public static ProcessStartInfo StartInfo(WorkerStartInfo info, string pipeHandle, IReadOnlyList<string> rawEnv)
    {
        var app = Path.GetFullPath(info.App, info.Chdir);
        var start = new ProcessStartInfo(DotnetHost()) { UseShellExecute = false, WorkingDirectory = Path.GetDirectoryName(app)! };
        start.ArgumentList.Add(app);
        WorkerLauncher.ApplyRawEnv(start, rawEnv);
        start.Environment["ASPNETCORE_URLS"] = $"http://unix:{info.SocketPath}";
        start.Environment["DOTNET_STARTUP_HOOKS"] = Path.Combine(AppContext.BaseDirectory, HookAssembly);
        start.Environment["GUNICORN_NET_WORKER_PIPE"] = pipeHandle;
        start.Environment["GUNICORN_NET_MAX_REQUESTS"] = info.MaxRequests.ToString(CultureInfo.InvariantCulture);
        start.Environment["GUNICORN_NET_HEARTBEAT_SECONDS"] =
            WorkerContract.HeartbeatInterval(info.TimeoutSeconds).TotalSeconds.ToString(CultureInfo.InvariantCulture);
        return start;
    }

    /// <summary>The dotnet host this master runs on, else the one on PATH.</summary>
    private static string DotnetHost()
    {
        var root = Environment.GetEnvironmentVariable("DOTNET_ROOT") ?? Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(typeof(object).Assembly.Location)));
        var candidate = root is null ? null : Path.Combine(root, "dotnet");
        return candidate is not null && File.Exists(candidate) ? candidate : "dotnet";
    }
}
