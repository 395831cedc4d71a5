using System.Globalization;
using Gunicorn.Shared.Contract;
using Gunicorn.Shared.Logging;
using Gunicorn.Shared.Platform;
using Gunicorn.Worker.Asgi;
using Gunicorn.Worker.Server;

namespace Gunicorn.Worker.Hosting;

/// <summary>
/// A worker process: hosts the app on its Unix socket, reports readiness and heartbeats to the master, and obeys
/// gunicorn's worker signals: TERM finishes in-flight requests within graceful_timeout, INT and QUIT exit at once.
/// </summary>
internal static class WorkerMain
{
    public static int Run()
    {
        if (Environment.GetEnvironmentVariable(WorkerContract.StartInfoVariable) is not { } startInfo)
        {
            Console.Error.WriteLine($"{WorkerContract.WorkerExecutable} is started by gunicorn-net's master, not by hand. Run gunicorn-net.");
            return WorkerContract.WorkerBootError;
        }
        var info = WorkerContract.Deserialize(startInfo);
        if (info.CaptureOutput && info.ErrorLog != ErrorLog.StderrPath)
        {
            // The app's prints (and native writes) go to the error log, as gunicorn's capture_output.
            Posix.RedirectOutput(info.ErrorLog);
        }
        ErrorLog.Configure(info.LogLevel, info.ErrorLog);
        ErrorLog.SendToSyslog(info.Syslog);
        if (info.Statsd is { } statsd)
        {
            Gunicorn.Shared.Metrics.StatsdSocket.CountLogLines(statsd);
        }
        ProcessTitle.Set(info.Title);
        if (info.BatchScheduling && BatchScheduling.ApplyToThisProcess() is { } refused)
        {
            ErrorLog.Warning($"Worker (pid:{Environment.ProcessId}) runs under the normal scheduling policy: SCHED_BATCH was refused ({refused}). Set worker_batch_scheduling: false to silence this.");
        }
        var pipeFd = int.TryParse(Environment.GetEnvironmentVariable(WorkerContract.PipeVariable), NumberStyles.None, CultureInfo.InvariantCulture, out var fd) ? fd : -1;
        // The variables are for this process only; the app and its children must not see them.
        Environment.SetEnvironmentVariable(WorkerContract.StartInfoVariable, null);
        Environment.SetEnvironmentVariable(WorkerContract.PipeVariable, null);

        using var stopping = new ManualResetEventSlim();
        using var pipe = pipeFd >= 0 ? new MasterPipe(pipeFd, info.MaxRequests, stopping.Set) : null;
        var hooks = new WorkerHookRunner(info);
        try
        {
            if (info.Identity is { } identity)
            {
                Identity.Apply(identity);
            }
            Directory.SetCurrentDirectory(info.Chdir);
        }
        catch (Exception e)
        {
            // Whatever stops a worker from booting must reach the master as exit code 3, never as a crash.
            ErrorLog.Error($"Worker (pid:{Environment.ProcessId}) failed to boot: {e.Message}");
            return WorkerContract.WorkerBootError;
        }
        if (info.Exec is { Count: > 0 } exec)
        {
            var program = exec[0];
            // An app that is its own program (App.dll): it runs in this process, with the identity, directory and
            // output taken above, and speaks the contract itself through the pipe (its startup hook), which stays open.
            Environment.SetEnvironmentVariable(WorkerContract.PipeVariable, pipeFd.ToString(CultureInfo.InvariantCulture));
            var error = Posix.Exec(program, [info.Title, .. exec.Skip(1)]);
            ErrorLog.Error($"Worker (pid:{Environment.ProcessId}) failed to boot: cannot run {program}: {error}");
            return WorkerContract.WorkerBootError;
        }
        var (app, exitCode) = AppLoader.Load(info, hooks);
        if (app is null)
        {
            return exitCode;
        }
        using var signals = new WorkerSignals(stopping.Set, hooks, app.Shutdown);
        using IWorkerServer server = app.AsgiServer != 0
            ? new AsgiServer(info.SocketPath, app.AsgiServer, app.Threads, () => pipe?.CountRequest())
            : new WorkerServer(info.SocketPath, app.Handler, app.Threads, threaded: info.WorkerClass is WorkerContract.GThread, () => pipe?.CountRequest());
        try
        {
            server.Start();
            File.SetUnixFileMode(info.SocketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        catch (Exception e)
        {
            ErrorLog.Error($"Worker (pid:{Environment.ProcessId}) failed to boot: cannot listen on {info.SocketPath}: {e.Message}");
            return WorkerContract.WorkerBootError;
        }
        var heartbeat = WorkerContract.HeartbeatInterval(info.TimeoutSeconds);
        pipe?.ReportReady(heartbeat, () => server.BusyFor() is not { } busy || busy <= heartbeat);
        ErrorLog.Debug($"Worker ready on {info.SocketPath}");
        hooks.Run("post_worker_init", info.Hooks.PostWorkerInit);

        // The loop ends by itself only if it fails; TERM (or the master's death) stops it gracefully.
        WaitHandle.WaitAny([stopping.WaitHandle, ((IAsyncResult)server.Completion).AsyncWaitHandle]);
        app.Stopping?.Invoke();
        server.Stop();
        if (!server.Completion.Wait(TimeSpan.FromSeconds(info.GracefulTimeoutSeconds)))
        {
            ErrorLog.Warning($"Worker (pid:{Environment.ProcessId}) still serving after graceful_timeout ({info.GracefulTimeoutSeconds} s); exiting anyway");
        }
        if (server.Completion.IsFaulted)
        {
            ErrorLog.Error($"Worker (pid:{Environment.ProcessId}) stopped serving: {server.Completion.Exception?.InnerException}");
        }
        ErrorLog.Info($"Worker exiting (pid: {Environment.ProcessId})");
        // The serving paths are meant to allocate nothing per request (a worker's memory is the app's): this shows it.
        ErrorLog.Debug($"Worker (pid:{Environment.ProcessId}) allocated {GC.GetTotalAllocatedBytes()} managed bytes in its life, {GC.CollectionCount(0)} collections");
        hooks.Run("worker_exit", info.Hooks.WorkerExit);
        app.Shutdown();
        return server.Completion.IsFaulted ? 1 : 0;
    }
}
