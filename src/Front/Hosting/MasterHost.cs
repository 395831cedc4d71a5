using Gunicorn.Backend.Arbiter;
using Gunicorn.Shared.Contract;
using Gunicorn.Shared.Hooks;
using Gunicorn.Shared.Logging;
using Gunicorn.Backend.Platform;
using Gunicorn.Shared.Platform;
using Gunicorn.Front.Cli;
using Gunicorn.Settings.Records;

namespace Gunicorn.Front.Hosting;

/// <summary>The master process: on_starting, pidfile, the front tier and the arbiter; cleans up on the way out.</summary>
public static class MasterHost
{
    public const int StartupErrorExitCode = 1;

    /// <summary>The control socket is a convenience: when it cannot be opened, the server runs without it.</summary>
    private static Control.ControlServer? OpenControlSocket(ProcessConfig process, Arbiter arbiter)
    {
        if (process.ControlSocket is not { } path)
        {
            return null; // control_socket_disable
        }
        try
        {
            return new Control.ControlServer(path, (UnixFileMode)process.ControlSocketMode, arbiter.Events);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
        {
            ErrorLog.Warning($"Control socket {path} could not be opened ({e.Message}); gunicorn-net ctl will not reach this master. Set control_socket to a writable path.");
            return null;
        }
    }

    public static async Task<int> RunAsync(GunicornConfig config, Func<GunicornConfig?> reloadConfig)
    {
        ErrorLog.Configure(config.Logging.LogLevel, config.Logging.ErrorLog);
        ErrorLog.SendToSyslog(config.Logging.Syslog);
        Posix.Umask((uint)config.Pool.Umask);
        RawEnvironment.ApplyToMaster(config.Pool.RawEnv);
        // After raw_env (an operator may set the runtime's variable there) and before the master's first socket.
        Gunicorn.Backend.Platform.FrontSocketEngine.UseEventThreads(config.Process.FrontThreads);
        var hooks = new HookRunner(config.Hooks.TimeoutSeconds, start => RawEnvironment.ApplyTo(start, config.Pool.RawEnv));
        if (!hooks.Run("on_starting", config.Hooks.OnStarting))
        {
            ErrorLog.Error("Shutting down: the on_starting hook failed (see above).");
            return StartupErrorExitCode;
        }

        ErrorLog.Info($"Starting gunicorn-net {GunicornCommand.Version}");
        WorkerGeneration first;
        try
        {
            first = WorkerGeneration.Create(1, config);
        }
        catch (Gunicorn.Backend.Python.PythonUnavailableException e)
        {
            // gunicorn's APP_LOAD_ERROR: nothing is bound and no worker starts.
            ErrorLog.Error($"App failed to load: {e.Message}");
            ErrorLog.Info($"Shutting down: Master (exit code {WorkerContract.AppLoadError})");
            return WorkerContract.AppLoadError;
        }
        await using var front = new FrontTier(config);
        IReadOnlyList<string> addresses;
        try
        {
            addresses = await front.StartAsync();
        }
        catch (Metrics.MetricsBindException e)
        {
            ErrorLog.Error(e.Message);
            return StartupErrorExitCode;
        }
        catch (IOException e)
        {
            ErrorLog.Error($"Connection in use or not permitted: {string.Join(", ", config.Listeners.Bind)}: {e.Message}. Stop the other server or change bind.");
            return StartupErrorExitCode;
        }
        catch (Exception e)
        {
            ErrorLog.Error($"The front tier could not start: {e}");
            return StartupErrorExitCode;
        }
        if (front.InheritedFrom is { } source)
        {
            ErrorLog.Info($"Using {addresses.Count} socket(s) from {source}; bind is ignored");
        }
        foreach (var address in addresses)
        {
            ErrorLog.Info($"Listening at: {address} ({Environment.ProcessId})");
        }
        ErrorLog.Info($"Using worker: {config.Pool.WorkerClass}");

        using var runtime = RuntimeDirectory.Create(config.Pool.WorkerTmpDir, WorkerIdentities.From(config.Pool));
        using var pidFile = config.Process.PidFile is { } path ? PidFile.Create(path) : null;
        var upgrade = new BinaryUpgrade(front, pidFile);
        var arbiter = new Arbiter(first, front, reloadConfig, runtime.Path) { ReopenLogs = front.ReopenLogs, StartNewMaster = upgrade.Start };
        front.AttachSupervisor(arbiter.Events, arbiter.Counters);
        ProcessTitle.Set($"gunicorn-net: master [{arbiter.ProcName()}]");
        await using var control = OpenControlSocket(config.Process, arbiter);
        var exitCode = await arbiter.RunAsync();
        await front.StopAsync(TimeSpan.Zero);
        ErrorLog.Info($"Shutting down: Master (exit code {exitCode})");
        return exitCode;
    }
}
