using Gunicorn.Backend.Contract;
using Gunicorn.Backend.Logging;
using Gunicorn.Backend.Platform;

namespace Gunicorn.Backend.Workers;

/// <summary>
/// A worker process: hosts the app on its Unix socket, reports readiness and heartbeats to the master, and obeys
/// gunicorn's worker signals: TERM finishes in-flight requests within graceful_timeout, INT and QUIT exit at once.
/// </summary>
public static class WorkerMain
{
    public static async Task<int> RunAsync()
    {
        var info = WorkerContract.Deserialize(Environment.GetEnvironmentVariable(WorkerContract.StartInfoVariable)!);
        if (info.CaptureOutput && info.ErrorLog != ErrorLog.StderrPath)
        {
            // The app's prints (and native writes) go to the error log, as gunicorn's capture_output.
            Posix.RedirectOutput(info.ErrorLog);
        }
        ErrorLog.Configure(info.LogLevel, info.ErrorLog);
        ProcessTitle.Set(info.Title);
        var pipeHandle = Environment.GetEnvironmentVariable(WorkerContract.PipeVariable);
        // The variables are for this process only; the app and its children must not see them.
        Environment.SetEnvironmentVariable(WorkerContract.StartInfoVariable, null);
        Environment.SetEnvironmentVariable(WorkerContract.PipeVariable, null);

        using var stopping = new CancellationTokenSource();
        using var pipe = pipeHandle is null ? null : new MasterPipe(pipeHandle, info.MaxRequests, stopping.Cancel);
        var hooks = new WorkerHookRunner(info);
        IWorkerHost host;
        try
        {
            if (info.Identity is { } identity)
            {
                WorkerIdentities.Apply(identity);
            }
            Directory.SetCurrentDirectory(info.Chdir);
            var (loaded, exitCode) = await AppLoader.LoadAsync(info, hooks, () => pipe?.CountRequest());
            if (loaded is null)
            {
                return exitCode;
            }
            host = loaded;
        }
        catch (Exception e)
        {
            // Whatever stops a worker from booting must reach the master as exit code 3, never as a crash.
            ErrorLog.Error($"Worker (pid:{Environment.ProcessId}) failed to boot: {e.Message}");
            return WorkerContract.WorkerBootError;
        }
        using var signals = new WorkerSignals(stopping.Cancel, hooks);
        try
        {
            await host.StartAsync();
        }
        catch (Exception e)
        {
            ErrorLog.Error($"Worker (pid:{Environment.ProcessId}) failed to boot: cannot listen on {info.SocketPath}: {e.Message}");
            return WorkerContract.WorkerBootError;
        }
        File.SetUnixFileMode(info.SocketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var heartbeat = WorkerContract.HeartbeatInterval(info.TimeoutSeconds);
        pipe?.ReportReady(heartbeat, () => host.IsResponsive(heartbeat));
        ErrorLog.Debug($"Worker ready on {info.SocketPath}");
        hooks.Run("post_worker_init", info.Hooks.PostWorkerInit);
        await host.ServeUntilStoppedAsync(stopping.Token);
        ErrorLog.Info($"Worker exiting (pid: {Environment.ProcessId})");
        hooks.Run("worker_exit", info.Hooks.WorkerExit);
        return 0;
    }
}
