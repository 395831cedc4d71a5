using System.Diagnostics;
using Gunicorn.Backend.Contract;
using Gunicorn.Backend.Logging;
using Gunicorn.Backend.Platform;

namespace Gunicorn.Backend.Arbiter;

public sealed partial class Arbiter
{
    /// <summary>How long an aborted (SIGABRT) worker gets to die before SIGKILL; a stopped process ignores SIGABRT.</summary>
    private static readonly TimeSpan AbortGrace = TimeSpan.FromSeconds(1);

    private WorkerLauncher? _launcher;

    /// <summary>Workers of a generation that count toward its size: booting or ready, not leaving.</summary>
    private IEnumerable<WorkerHandle> Live(int generation) => _workers.Where(w =>
        w.Generation == generation && w.State is WorkerState.Booting or WorkerState.Ready && !w.RecycleRequested);

    private void Supervise()
    {
        MurderTimedOutWorkers();
        StopDrainedWorkers();
        if (_pendingGeneration is not null && Stopwatch.GetElapsedTime(_pendingSince) > BootTimeout)
        {
            AbandonPending($"not every new worker was ready within {BootTimeout.TotalSeconds:0} s");
        }
        ManageWorkers();
    }

    private TimeSpan BootTimeout => TimeSpan.FromSeconds(Math.Max(30, _config.Pool.TimeoutSeconds));

    /// <summary>gunicorn's murder_workers: SIGABRT for a silent worker, SIGKILL if it is still there a second later.</summary>
    private void MurderTimedOutWorkers()
    {
        var timeout = _config.Pool.TimeoutSeconds;
        foreach (var worker in _workers)
        {
            if (worker.AbortedAt is { } abortedAt)
            {
                if (!worker.Killed && Stopwatch.GetElapsedTime(abortedAt) > AbortGrace)
                {
                    Kill(worker, Posix.SIGKILL);
                }
                continue;
            }
            if (timeout <= 0 || worker.State is not (WorkerState.Ready or WorkerState.Retiring)
                || Stopwatch.GetElapsedTime(worker.LastHeartbeat) <= TimeSpan.FromSeconds(timeout))
            {
                continue;
            }
            var request = _front.DescribeInFlight(worker.Key);
            ErrorLog.Critical($"WORKER TIMEOUT (pid:{worker.Pid}) " + (request is null
                ? $"silent for more than {timeout} s with no request in flight."
                : $"while serving {request}; raise timeout if requests legitimately take this long."));
            _front.MarkTimedOut(worker.Key);
            worker.AbortedAt = Stopwatch.GetTimestamp();
            worker.ExitRequested = true;
            if (worker.State == WorkerState.Ready)
            {
                worker.MoveTo(WorkerState.Stopping);
                PublishRoutes();
            }
            Posix.Kill(worker.Pid, Posix.SIGABRT);
        }
    }

    /// <summary>Retiring workers get TERM once the front has no request in flight on them (or graceful_timeout passed).</summary>
    private void StopDrainedWorkers()
    {
        var grace = TimeSpan.FromSeconds(_config.Pool.GracefulTimeoutSeconds);
        foreach (var worker in _workers)
        {
            if (worker.State == WorkerState.Retiring
                && (_front.InFlight(worker.Key) == 0 || Stopwatch.GetElapsedTime(worker.StateSince) > grace))
            {
                worker.MoveTo(WorkerState.Stopping);
                Posix.Kill(worker.Pid, Posix.SIGTERM);
            }
            else if (worker.State == WorkerState.Stopping && worker.AbortedAt is null && !worker.Killed
                     && Stopwatch.GetElapsedTime(worker.StateSince) > grace + AbortGrace)
            {
                ErrorLog.Warning($"Worker (pid:{worker.Pid}) did not stop within graceful_timeout ({grace.TotalSeconds:0} s); killing it.");
                Kill(worker, Posix.SIGKILL);
            }
        }
    }

    /// <summary>gunicorn's manage_workers: spawn up to the target (after any crash-loop backoff), retire beyond it.</summary>
    private void ManageWorkers()
    {
        if (_exitCode is not null)
        {
            return;
        }
        foreach (var generation in new[] { _servingGeneration, _pendingGeneration }.OfType<int>())
        {
            var live = Live(generation).ToList();
            for (var missing = _targetWorkers - live.Count; missing > 0; missing--)
            {
                if (Stopwatch.GetTimestamp() < _nextSpawnAllowed)
                {
                    return;
                }
                SpawnWorker(generation);
            }
            foreach (var extra in live.OrderBy(w => w.Age).Take(Math.Max(0, live.Count - _targetWorkers)))
            {
                Retire(extra);
            }
        }
    }

    private void SpawnWorker(int generation)
    {
        _launcher ??= new WorkerLauncher(_events.Writer, _config.Pool.RawEnv);
        var age = _nextAge++;
        var pool = _config.Pool;
        var jitter = pool.MaxRequestsJitter > 0 ? Random.Shared.Next(0, pool.MaxRequestsJitter + 1) : 0;
        var info = new WorkerStartInfo(
            Environment.ProcessId,
            generation,
            age,
            Path.Combine(_runtimeDirectory, $"g{generation}-w{age}.sock"),
            _config.App.Target ?? Gunicorn.Backend.Workers.BuiltinApps.Hello,
            _config.App.Chdir,
            _config.App.Python,
            _config.App.PythonPath,
            pool.WorkerClass,
            pool.ConcurrencyPerWorker,
            pool.TimeoutSeconds,
            pool.GracefulTimeoutSeconds,
            $"gunicorn-net: worker [{ProcName}]",
            _config.Logging.LogLevel,
            _config.Logging.ErrorLog,
            _config.App.CaptureOutput,
            new WorkerHooks(_config.Hooks.PostFork, _config.Hooks.PreRequest, _config.Hooks.PostRequest, _config.Hooks.PostWorkerInit, _config.Hooks.WorkerInt, _config.Hooks.WorkerAbort,
                _config.Hooks.WorkerExit, _config.Hooks.TimeoutSeconds),
            pool.MaxRequests > 0 ? pool.MaxRequests + jitter : 0,
            WorkerIdentities.From(pool));
        _hooks.Run("pre_fork", _config.Hooks.PreFork, new Dictionary<string, string> { ["GUNICORN_WORKER_AGE"] = age.ToString() });
        var worker = _launcher.Spawn(info);
        _workers.Add(worker);
        ErrorLog.Info($"Booting worker with pid: {worker.Pid}");
        _hooks.Run("post_fork", _config.Hooks.PostFork, new Dictionary<string, string>
        {
            ["GUNICORN_WORKER_PID"] = worker.Pid.ToString(),
            ["GUNICORN_WORKER_AGE"] = age.ToString(),
        });
    }

    public string ProcName => _config.Process.ProcName ?? _config.App.Target ?? "hello";

    private void Retire(WorkerHandle worker)
    {
        worker.ExitRequested = true;
        worker.MoveTo(WorkerState.Retiring);
        PublishRoutes();
    }

    private void Kill(WorkerHandle worker, int signal)
    {
        worker.ExitRequested = true;
        worker.Killed |= signal == Posix.SIGKILL;
        Posix.Kill(worker.Pid, signal);
    }

    private void PublishRoutes() => _front.Publish(_workers
        .Where(w => w.Generation == _servingGeneration && w.State == WorkerState.Ready)
        .Select(w => new WorkerEndpoint(w.Key, w.SocketPath, _config.Pool.ConcurrencyPerWorker))
        .ToList());
}
