using System.Diagnostics;
using Gunicorn.Backend.Logging;
using Gunicorn.Backend.Platform;

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
            case Posix.SIGTERM when _config.Limits.DrainPeriodSeconds > 0 && _drainUntil is null:
                // Orchestrators: first stop looking healthy while still serving; the loop stops after the period.
                ErrorLog.Info($"Draining for {_config.Limits.DrainPeriodSeconds:0.#} s: health answers 503, connections close after each response");
                _front.BeginDrain();
                _drainUntil = Stopwatch.GetTimestamp() + (long)(_config.Limits.DrainPeriodSeconds * Stopwatch.Frequency);
                break;
            case Posix.SIGTERM:
                await StopGracefullyAsync();
                break;
            case Posix.SIGINT or Posix.SIGQUIT:
                _fastStop = true;
                await _front.StopAsync(TimeSpan.Zero);
                _exitCode = 0;
                break;
            case 1:
                await ReloadAsync();
                break;
            case Posix.SIGTTIN:
                ChangeWorkerCount(_targetWorkers + 1);
                break;
            case Posix.SIGTTOU:
                ChangeWorkerCount(Math.Max(1, _targetWorkers - 1));
                break;
            case Posix.SIGUSR1:
                // gunicorn: the master reopens its logs and passes USR1 on to the workers.
                ErrorLog.Reopen();
                ReopenLogs?.Invoke();
                foreach (var worker in _workers)
                {
                    Posix.Kill(worker.Pid, Posix.SIGUSR1);
                }
                break;
            case Posix.SIGWINCH when _config.Process.Daemon:
                // gunicorn: a daemon's terminal went away; stop the workers gracefully and keep the master.
                ErrorLog.Info("graceful stop of workers");
                ChangeWorkerCount(0);
                break;
            case Posix.SIGWINCH:
                ErrorLog.Info("SIGWINCH ignored. Not daemonized");
                break;
            case Posix.SIGUSR2 when StartNewMaster is not null:
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
        await _front.StopAsync(TimeSpan.FromSeconds(_config.Pool.GracefulTimeoutSeconds));
        _exitCode = 0;
    }

    private void ChangeWorkerCount(int target)
    {
        var old = _targetWorkers;
        if (target == old)
        {
            return;
        }
        _targetWorkers = target;
        ErrorLog.Info($"Number of workers: {old} -> {target}");
        // As gunicorn's num_workers setter: the hook runs before the pool is adjusted.
        _hooks.Run("nworkers_changed", _config.Hooks.NWorkersChanged, new Dictionary<string, string>
        {
            ["GUNICORN_NEW_VALUE"] = target.ToString(),
            ["GUNICORN_OLD_VALUE"] = old.ToString(),
        });
        ManageWorkers();
    }

    /// <summary>HUP: re-read the config; start a complete new generation; switch when all of it is ready.</summary>
    private async Task ReloadAsync()
    {
        if (_pendingGeneration is not null)
        {
            // The code may have changed again since the pending generation loaded it: reload once more after it.
            ErrorLog.Info($"Reload already in progress (generation {_pendingGeneration}); another follows when it ends.");
            _reloadAgain = true;
            return;
        }
        var config = _reloadConfig();
        if (config is null)
        {
            ErrorLog.Error("Reload failed: the configuration is invalid (errors above). The current workers keep serving.");
            _lastReload = $"{DateTimeOffset.Now:yyyy-MM-dd HH:mm:ss} failed: the configuration is invalid (see the error log)";
            return;
        }
        try
        {
            // The front first: new binds and front settings, on a new front generation; the workers follow.
            await _front.ApplyAsync(config);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or System.Security.Cryptography.CryptographicException)
        {
            ErrorLog.Error($"Reload failed: the front could not apply the new configuration ({e.Message}). Nothing changed; the current front and workers keep serving.");
            _lastReload = $"{DateTimeOffset.Now:yyyy-MM-dd HH:mm:ss} failed: the front could not apply the new configuration ({e.Message})";
            return;
        }
        SystemdNotify.Reloading();
        _hooks.Run("on_reload", config.Hooks.OnReload);
        _config = config;
        _hooks = new Hooks.HookRunner(config.Hooks.TimeoutSeconds);
        var oldTarget = _targetWorkers;
        _targetWorkers = config.Pool.Workers;
        _pendingGeneration = _workers.Select(w => w.Generation).DefaultIfEmpty(_servingGeneration).Max() + 1;
        _pendingSince = Stopwatch.GetTimestamp();
        ErrorLog.Info($"Reloading: starting generation {_pendingGeneration} with {_targetWorkers} workers");
        if (oldTarget != _targetWorkers)
        {
            _hooks.Run("nworkers_changed", config.Hooks.NWorkersChanged, new Dictionary<string, string>
            {
                ["GUNICORN_NEW_VALUE"] = _targetWorkers.ToString(),
                ["GUNICORN_OLD_VALUE"] = oldTarget.ToString(),
            });
        }
        ManageWorkers();
    }

    private void SwitchToPending()
    {
        var previous = _servingGeneration;
        _servingGeneration = _pendingGeneration!.Value;
        _pendingGeneration = null;
        PublishRoutes();
        foreach (var old in _workers.Where(w => w.Generation != _servingGeneration && w.State is WorkerState.Ready or WorkerState.Booting).ToList())
        {
            Retire(old);
        }
        ErrorLog.Info($"Reload complete: generation {_servingGeneration} serving, generation {previous} draining");
        SystemdNotify.Ready();
        _lastReload = $"{DateTimeOffset.Now:yyyy-MM-dd HH:mm:ss} succeeded: generation {_servingGeneration} serving";
        ReloadAgainIfAsked();
    }

    private void AbandonPending(string reason)
    {
        var generation = _pendingGeneration!.Value;
        _pendingGeneration = null;
        foreach (var worker in _workers.Where(w => w.Generation == generation).ToList())
        {
            Kill(worker, Posix.SIGKILL);
            worker.MoveTo(WorkerState.Stopping);
        }
        ErrorLog.Error($"Reload failed: {reason}. Generation {generation} was torn down; generation {_servingGeneration} keeps serving.");
        SystemdNotify.Ready();
        _lastReload = $"{DateTimeOffset.Now:yyyy-MM-dd HH:mm:ss} failed: {reason}; generation {_servingGeneration} kept serving";
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
            Posix.Kill(worker.Pid, signal);
        }
        var deadline = TimeSpan.FromSeconds(graceful ? _config.Pool.GracefulTimeoutSeconds : 1);
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
