using System.Diagnostics;
using Gunicorn.Shared.Logging;
using Gunicorn.Backend.Platform;
using Gunicorn.Shared.Platform;
using Gunicorn.Settings.Records;

namespace Gunicorn.Backend.Arbiter;

public sealed partial class Arbiter
{
    private async Task HandleSignalAsync(int signal)
    {
        ErrorLog.Info($"Handling signal: {Posix.Name(signal)[3..].ToLowerInvariant()}");
        if (signal is Posix.SIGTERM or Posix.SIGINT or Posix.SIGQUIT)
        {
            SystemdNotify.Stopping();
        }
        switch (signal)
        {
            case Posix.SIGTERM when Config.Limits.DrainPeriodSeconds > 0 && _drainUntil is null:
                // Orchestrators: first stop looking healthy while still serving; the loop stops after the period.
                ErrorLog.Info($"Draining for {Config.Limits.DrainPeriodSeconds:0.#} s: health answers 503, connections close after each response");
                _front.BeginDrain();
                _drainUntil = Stopwatch.GetTimestamp() + (long)(Config.Limits.DrainPeriodSeconds * Stopwatch.Frequency);
                break;
            case Posix.SIGTERM:
                await StopGracefullyAsync();
                break;
            case Posix.SIGINT or Posix.SIGQUIT:
                _fastStop = true;
                await _front.StopAsync(TimeSpan.Zero);
                _exitCode = 0;
                break;
            case Posix.SIGHUP:
                Reload();
                break;
            case Posix.SIGTTIN:
                ChangeWorkerCount(_serving.TargetWorkers + 1);
                break;
            case Posix.SIGTTOU:
                ChangeWorkerCount(Math.Max(1, _serving.TargetWorkers - 1));
                break;
            case Posix.SIGUSR1:
                // gunicorn: the master reopens its logs and passes USR1 on to the workers.
                ErrorLog.Reopen();
                ReopenLogs?.Invoke();
                foreach (var worker in _workers)
                {
                    worker.Process.Signal(Posix.SIGUSR1);
                }
                break;
            case Posix.SIGWINCH when Config.Process.Daemon:
                // gunicorn: a daemon's terminal went away; stop the workers gracefully and keep the master.
                ErrorLog.Info("graceful stop of workers");
                ChangeWorkerCount(0);
                break;
            case Posix.SIGWINCH:
                ErrorLog.Info("SIGWINCH ignored. Not daemonized");
                break;
            case Posix.SIGUSR2 when StartNewMaster is not null:
                // gunicorn runs pre_exec in the forked child just before exec; here the new master is a new process,
                // so the hook runs just before it starts.
                _serving.Hooks.Run("pre_exec", Config.Hooks.PreExec);
                StartNewMaster();
                break;
            default:
                ErrorLog.Info($"Ignoring {Posix.Name(signal)}: not supported yet.");
                break;
        }
    }

    /// <summary>Graceful: the front stops accepting and finishes in-flight requests, then the workers stop.</summary>
    private async Task StopGracefullyAsync()
    {
        var frontStopped = _front.StopAsync(TimeSpan.FromSeconds(Config.Pool.GracefulTimeoutSeconds));
        await LetWebSocketsGoAwayAsync(frontStopped);
        await frontStopped;
        _exitCode = 0;
    }

    /// <summary>
    /// Open WebSockets would hold the front's stop until graceful_timeout, and then be cut without a close frame. Once
    /// every other request (in flight or queued) is answered, the workers holding WebSockets are stopped (TERM): each
    /// closes its WebSockets with 1001 (going away), so their clients reconnect elsewhere, and the stop goes on.
    /// </summary>
    private async Task LetWebSocketsGoAwayAsync(Task frontStopped)
    {
        while (!frontStopped.IsCompleted)
        {
            var holding = _workers.Where(w => !w.ExitRequested && _front.WebSockets(w.Key) > 0).ToList();
            if (holding.Count > 0 && _front.QueuedRequests == 0 && _workers.All(w => _front.InFlight(w.Key) == _front.WebSockets(w.Key)))
            {
                foreach (var worker in holding)
                {
                    ErrorLog.Info($"Worker (pid:{worker.Pid}) holds {_front.WebSockets(worker.Key)} open WebSocket(s) and nothing else: stopping it, so they close with 1001 (going away)");
                    worker.ExitRequested = true;
                    worker.Process.Signal(Posix.SIGTERM);
                }
            }
            await Task.WhenAny(frontStopped, Task.Delay(50));
        }
    }

    /// <summary>TTIN/TTOU and <c>ctl scale</c>: the pool size, for the serving generation and a reload's too.</summary>
    private void ChangeWorkerCount(int target)
    {
        var old = _serving.TargetWorkers;
        if (target == old)
        {
            return;
        }
        _serving.TargetWorkers = target;
        if (_pending is not null)
        {
            _pending.TargetWorkers = target;
        }
        ErrorLog.Info($"Number of workers: {old} -> {target}");
        // As gunicorn's num_workers setter: the hook runs before the pool is adjusted.
        _serving.Hooks.Run("nworkers_changed", Config.Hooks.NWorkersChanged, new Dictionary<string, string>
        {
            ["GUNICORN_NEW_VALUE"] = target.ToString(),
            ["GUNICORN_OLD_VALUE"] = old.ToString(),
        });
        ManageWorkers();
    }

    /// <summary>
    /// HUP: re-read the config and start a complete new generation with it. Nothing of the new configuration is in
    /// force until every new worker is ready (<see cref="SwitchToPendingAsync"/>): a generation that cannot boot is
    /// abandoned with its configuration, and the serving one goes on exactly as before.
    /// </summary>
    private void Reload()
    {
        if (_pending is not null)
        {
            // The code may have changed again since the pending generation loaded it: reload once more after it.
            ErrorLog.Info($"Reload already in progress ({_pending}); another follows when it ends.");
            _reloadAgain = true;
            return;
        }
        var config = _reloadConfig();
        if (config is null)
        {
            ErrorLog.Error("Reload failed: the configuration is invalid (errors above). The current workers keep serving.");
            Counters.ReloadFailed();
            _lastReload = $"{DateTimeOffset.Now:yyyy-MM-dd HH:mm:ss} failed: the configuration is invalid (see the error log)";
            return;
        }
        if (SocketDirectoryOwner(config) != SocketDirectoryOwner(_serving.Config))
        {
            // The workers' socket directory (0700) was given to the first identity when the master started: workers
            // running as another user could not bind their sockets in it, and the reload would fail worker by worker.
            const string why = "user/group changed, but the workers' socket directory belongs to the identity the master started with";
            ErrorLog.Error($"Reload failed: {why}. Restart the master (or upgrade it in place with USR2) to run the workers as another user. The current workers keep serving.");
            Counters.ReloadFailed();
            _lastReload = $"{DateTimeOffset.Now:yyyy-MM-dd HH:mm:ss} failed: {why}";
            return;
        }
        var number = Math.Max(_serving.Number, _workers.Select(w => w.Generation.Number).DefaultIfEmpty(0).Max()) + 1;
        try
        {
            _pending = WorkerGeneration.Create(number, config);
        }
        catch (Python.PythonUnavailableException e)
        {
            ErrorLog.Error($"Reload failed: App failed to load: {e.Message} The current workers keep serving.");
            Counters.ReloadFailed();
            _lastReload = $"{DateTimeOffset.Now:yyyy-MM-dd HH:mm:ss} failed: {e.Message}";
            return;
        }
        SystemdNotify.Reloading();
        _pendingSince = Stopwatch.GetTimestamp();
        _pending.Hooks.Run("on_reload", config.Hooks.OnReload);
        ErrorLog.Info($"Reloading: starting {_pending} with {_pending.TargetWorkers} workers");
        if (_serving.TargetWorkers != _pending.TargetWorkers)
        {
            _pending.Hooks.Run("nworkers_changed", config.Hooks.NWorkersChanged, new Dictionary<string, string>
            {
                ["GUNICORN_NEW_VALUE"] = _pending.TargetWorkers.ToString(),
                ["GUNICORN_OLD_VALUE"] = _serving.TargetWorkers.ToString(),
            });
        }
        ManageWorkers();
    }

    /// <summary>Who the workers' socket directory must belong to for this configuration's workers: their uid and gid.</summary>
    private static (uint Uid, uint Gid)? SocketDirectoryOwner(GunicornConfig config) =>
        WorkerIdentities.From(config.Pool) is { } identity ? (identity.Uid, identity.Gid) : null;

    /// <summary>
    /// Every worker of the pending generation is ready: the front takes the new configuration (binds, limits, TLS,
    /// static files...), then routing switches and the old generation retires. If the front cannot apply it (a bind in
    /// use, a bad certificate), the whole reload fails and the new workers are torn down.
    /// </summary>
    private async Task SwitchToPendingAsync()
    {
        var pending = _pending!;
        try
        {
            await _front.ApplyAsync(pending.Config);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or System.Security.Cryptography.CryptographicException)
        {
            AbandonPending($"the front could not apply the new configuration ({e.Message}). Nothing changed",
                $"Reload failed: the front could not apply the new configuration ({e.Message}). Nothing changed; {pending} was torn down and {_serving} keeps serving.");
            return;
        }
        var previous = _serving;
        _serving = pending;
        _pending = null;
        ReapplyMasterSettings(previous.Config, _serving.Config);
        PublishRoutes();
        foreach (var old in _workers.Where(w => w.Generation != _serving && w.State is WorkerState.Ready or WorkerState.Booting).ToList())
        {
            Retire(old);
        }
        ErrorLog.Info($"Reload complete: {_serving} serving, {previous} draining");
        Counters.Reloaded();
        SystemdNotify.Ready();
        _lastReload = $"{DateTimeOffset.Now:yyyy-MM-dd HH:mm:ss} succeeded: {_serving} serving";
        ReloadAgainIfAsked();
    }

    /// <summary>
    /// What gunicorn re-applies in the master on HUP besides the workers: the error log's file and level, syslog,
    /// raw_env in the master's own environment (hooks see it), and the reload watcher.
    /// </summary>
    private void ReapplyMasterSettings(GunicornConfig before, GunicornConfig after)
    {
        if (before.Logging.ErrorLog != after.Logging.ErrorLog || before.Logging.LogLevel != after.Logging.LogLevel)
        {
            try
            {
                ErrorLog.Configure(after.Logging.LogLevel, after.Logging.ErrorLog);
                ErrorLog.Info($"Error log now {after.Logging.ErrorLog} at level {after.Logging.LogLevel} (reload)");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                ErrorLog.Error($"Cannot open the new errorlog {after.Logging.ErrorLog}: {e.Message}. Still writing to {before.Logging.ErrorLog}; fix the path and reload again.");
            }
        }
        if (before.Logging.Syslog != after.Logging.Syslog)
        {
            ErrorLog.SendToSyslog(after.Logging.Syslog);
        }
        RawEnvironment.ApplyToMaster(after.Pool.RawEnv);
        var wanted = FrontSocketEngine.EventThreadsFor(after.Process.FrontThreads);
        if (FrontSocketEngine.EventThreads is { } running && wanted != running)
        {
            ErrorLog.Warning($"front_threads is now {Describe(after.Process.FrontThreads)} ({wanted} event threads), but the front's event threads are fixed for the master's life: it still runs {running}. Restart the master or upgrade it in place (USR2) to apply it.");
        }
        if (before.App.Reload != after.App.Reload || before.App.Chdir != after.App.Chdir
            || !before.App.PythonPath.SequenceEqual(after.App.PythonPath) || !before.App.ReloadExtraFiles.SequenceEqual(after.App.ReloadExtraFiles))
        {
            _codeWatcher?.Dispose();
            _codeWatcher = WatchCode(after.App);
            if (_codeWatcher is null)
            {
                ErrorLog.Info("No longer watching for code changes (reload is off)");
            }
        }
    }

    private static string Describe(int? frontThreads) => frontThreads?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "auto";

    private void AbandonPending(string reason, string? message = null)
    {
        var abandoned = _pending!;
        _pending = null;
        foreach (var worker in _workers.Where(w => w.Generation == abandoned).ToList())
        {
            Kill(worker, Posix.SIGKILL);
            worker.MoveTo(WorkerState.Stopping);
        }
        Counters.ReloadFailed();
        ErrorLog.Error(message ?? $"Reload failed: {reason}. Generation {abandoned.Number} was torn down; generation {_serving.Number} keeps serving.");
        SystemdNotify.Ready();
        _lastReload = $"{DateTimeOffset.Now:yyyy-MM-dd HH:mm:ss} failed: {reason}; {_serving} kept serving";
        ReloadAgainIfAsked();
    }

    private void ReloadAgainIfAsked()
    {
        if (_reloadAgain)
        {
            _reloadAgain = false;
            _events.Writer.TryWrite(new ReloadAgain());
        }
    }

    /// <summary>Stops every worker: TERM and up to graceful_timeout (QUIT and a second when fast), then SIGKILL.</summary>
    private async Task StopWorkersAsync(bool graceful)
    {
        _front.Publish([]);
        var signal = graceful ? Posix.SIGTERM : Posix.SIGQUIT;
        foreach (var worker in _workers)
        {
            worker.ExitRequested = true;
            worker.Process.Signal(signal);
        }
        var deadline = TimeSpan.FromSeconds(graceful ? Config.Pool.GracefulTimeoutSeconds : 1);
        var started = Stopwatch.GetTimestamp();
        while (_workers.Count > 0)
        {
            var remaining = deadline - Stopwatch.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero)
            {
                foreach (var worker in _workers.ToList())
                {
                    ErrorLog.Warning($"Worker (pid:{worker.Pid}) did not stop in time; killing it.");
                    Kill(worker, Posix.SIGKILL);
                    await worker.Process.WaitForExitAsync();
                    _workers.Remove(worker);
                }
                break;
            }
            using var wait = new CancellationTokenSource(remaining);
            try
            {
                if (await _events.Reader.ReadAsync(wait.Token) is WorkerExited exited)
                {
                    _workers.Remove(exited.Worker);
                    LogExit(exited.Worker, exited.ExitCode);
                }
            }
            catch (OperationCanceledException)
            {
                // Deadline: the loop kills what is left.
            }
        }
    }
}
