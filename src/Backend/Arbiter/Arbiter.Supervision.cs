using System.Diagnostics;
using Gunicorn.Shared.Contract;
using Gunicorn.Shared.Logging;
using Gunicorn.Backend.Platform;
using Gunicorn.Shared.Platform;
using Gunicorn.Settings.Records;

namespace Gunicorn.Backend.Arbiter;

public sealed partial class Arbiter
{
    /// <summary>How long an aborted (SIGABRT) worker gets to die before SIGKILL; a stopped process ignores SIGABRT.</summary>
    private static readonly TimeSpan AbortGrace = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How late the loop's own tick may be before the master counts itself as having been stopped (SIGSTOP, a slow
    /// hook, a swapped-out machine): heartbeats could not be read meanwhile, so that time is not held against workers.
    /// </summary>
    private static readonly TimeSpan MasterStallAllowance = TimeSpan.FromSeconds(1);

    private IWorkerLauncher? _launcher;
    private long _lastSupervised = Stopwatch.GetTimestamp();

    /// <summary>Workers of a generation that count toward its size: booting or ready, not leaving.</summary>
    private IEnumerable<WorkerHandle> Live(WorkerGeneration generation) => _workers.Where(w =>
        w.Generation == generation && w.State is WorkerState.Booting or WorkerState.Ready && !w.RecycleRequested);

    private void Supervise()
    {
        ForgiveMasterStall();
        MurderTimedOutWorkers();
        KillWorkersThatNeverBooted();
        StopDrainedWorkers();
        ManageWorkers();
    }

    /// <summary>
    /// When the master itself did not run for a while, the heartbeats that workers sent meanwhile sat unread in their
    /// pipes: the silence is the master's, so every worker's clock restarts rather than a healthy pool being killed.
    /// </summary>
    private void ForgiveMasterStall()
    {
        var now = Stopwatch.GetTimestamp();
        var gap = Stopwatch.GetElapsedTime(_lastSupervised, now);
        _lastSupervised = now;
        if (gap <= TickInterval + MasterStallAllowance)
        {
            return;
        }
        ErrorLog.Warning($"The master did not run for {gap.TotalSeconds:0.0} s (stopped, or a hook that blocked it); worker timeouts count from now.");
        foreach (var worker in _workers)
        {
            worker.LastHeartbeat = Math.Max(worker.LastHeartbeat, now);
        }
        _pendingSince = Math.Max(_pendingSince, now);
    }

    private static TimeSpan BootTimeout(WorkerGeneration generation) => TimeSpan.FromSeconds(Math.Max(30, generation.Config.Pool.TimeoutSeconds));

    /// <summary>
    /// A worker that never reports ready (an import that hangs) is killed after the boot timeout: a reload's
    /// generation is abandoned; in the serving generation it counts as a failed boot and is replaced with backoff.
    /// </summary>
    private void KillWorkersThatNeverBooted()
    {
        if (_pending is not null && Stopwatch.GetElapsedTime(_pendingSince) > BootTimeout(_pending))
        {
            AbandonPending($"not every new worker was ready within {BootTimeout(_pending).TotalSeconds:0} s");
        }
        foreach (var worker in _workers)
        {
            if (worker.State == WorkerState.Booting && !worker.ExitRequested && !worker.Killed
                && Stopwatch.GetElapsedTime(worker.StartedAt) > BootTimeout(worker.Generation))
            {
                ErrorLog.Error($"Worker (pid:{worker.Pid}) was not ready within {BootTimeout(worker.Generation).TotalSeconds:0} s of booting (the app's import hangs?); killing it.");
                _lastFailure = $"a worker (pid:{worker.Pid}) did not finish booting within {BootTimeout(worker.Generation).TotalSeconds:0} s";
                Kill(worker, Posix.SIGKILL);
                worker.ExitRequested = false; // its exit is a failed boot, to be replaced with backoff
            }
        }
    }

    /// <summary>gunicorn's murder_workers: SIGABRT for a silent worker, SIGKILL if it is still there a second later.</summary>
    private void MurderTimedOutWorkers()
    {
        foreach (var worker in _workers)
        {
            var timeout = worker.Generation.Config.Pool.TimeoutSeconds;
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
            Counters.TimedOut();
            worker.AbortedAt = Stopwatch.GetTimestamp();
            worker.ExitRequested = true;
            if (worker.State == WorkerState.Ready)
            {
                worker.MoveTo(WorkerState.Stopping);
                PublishRoutes();
            }
            worker.Process.Signal(Posix.SIGABRT);
        }
    }

    /// <summary>Retiring workers get TERM once the front has no request in flight on them (or graceful_timeout passed).</summary>
    private void StopDrainedWorkers()
    {
        foreach (var worker in _workers)
        {
            var grace = TimeSpan.FromSeconds(worker.Generation.Config.Pool.GracefulTimeoutSeconds);
            if (worker.State == WorkerState.Retiring
                && (_front.InFlight(worker.Key) == 0 || Stopwatch.GetElapsedTime(worker.StateSince) > grace))
            {
                worker.MoveTo(WorkerState.Stopping);
                worker.Process.Signal(Posix.SIGTERM);
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
        foreach (var generation in new[] { _serving, _pending }.OfType<WorkerGeneration>())
        {
            var live = Live(generation).ToList();
            for (var missing = generation.TargetWorkers - live.Count; missing > 0; missing--)
            {
                if (Stopwatch.GetTimestamp() < _nextSpawnAllowed)
                {
                    return;
                }
                SpawnWorker(generation);
            }
            foreach (var extra in live.OrderBy(w => w.Age).Take(Math.Max(0, live.Count - generation.TargetWorkers)))
            {
                Retire(extra);
            }
        }
    }

    /// <summary>Starts one worker of <paramref name="generation"/> from that generation's own configuration.</summary>
    private void SpawnWorker(WorkerGeneration generation)
    {
        _launcher ??= _makeLauncher(_events.Writer);
        var age = _nextAge++;
        var config = generation.Config;
        var pool = config.Pool;
        var jitter = pool.MaxRequestsJitter > 0 ? Random.Shared.Next(0, pool.MaxRequestsJitter + 1) : 0;
        var info = new WorkerStartInfo(
            Environment.ProcessId,
            generation.Number,
            age,
            Path.Combine(_runtimeDirectory, $"g{generation.Number}-w{age}.sock"),
            config.App.Target ?? WorkerContract.HelloApp,
            config.App.Chdir,
            generation.Python,
            config.App.PythonPath,
            pool.WorkerClass,
            pool.ConcurrencyPerWorker,
            pool.TimeoutSeconds,
            pool.GracefulTimeoutSeconds,
            $"gunicorn-net: worker [{ProcName(config)}]",
            config.Logging.LogLevel,
            config.Logging.ErrorLog,
            config.App.CaptureOutput,
            new WorkerHooks(config.Hooks.PostFork, config.Hooks.PreRequest, config.Hooks.PostRequest, config.Hooks.PostWorkerInit, config.Hooks.WorkerInt, config.Hooks.WorkerAbort,
                config.Hooks.WorkerExit, config.Hooks.TimeoutSeconds),
            pool.MaxRequests > 0 ? pool.MaxRequests + jitter : 0,
            WorkerIdentities.From(pool),
            config.Static.Sendfile,
            Syslog: config.Logging.Syslog,
            ForwarderHeaders: config.Proxy.ForwarderHeaders,
            Statsd: config.Statsd.Host is { } statsd ? new(statsd, config.Statsd.Prefix, config.Statsd.DogstatsdTags) : null,
            Asgi: pool.WorkerClass == WorkerContract.Asgi ? config.App.Asgi : null,
            BatchScheduling: pool.BatchScheduling);
        generation.Hooks.Run("pre_fork", config.Hooks.PreFork, new Dictionary<string, string> { ["GUNICORN_WORKER_AGE"] = age.ToString() });
        WorkerHandle worker;
        try
        {
            worker = _launcher.Spawn(info, generation);
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            // No process (the worker executable missing, out of processes or memory): retry with backoff, stay up.
            _lastFailure = $"a worker process could not be started ({e.Message})";
            ErrorLog.Error($"Cannot start a worker: {e.Message}. Check that {WorkerLauncher.WorkerExecutable} exists and is executable, and the process and memory limits (ulimit -u, RLIMIT_AS).");
            BackOff();
            return;
        }
        _workers.Add(worker);
        Counters.Spawned();
        ErrorLog.Info($"Booting worker with pid: {worker.Pid}");
        generation.Hooks.Run("post_fork", config.Hooks.PostFork, new Dictionary<string, string>
        {
            ["GUNICORN_WORKER_PID"] = worker.Pid.ToString(),
            ["GUNICORN_WORKER_AGE"] = age.ToString(),
        });
    }

    /// <summary>proc_name, or the app, as gunicorn names its processes.</summary>
    public string ProcName() => ProcName(Config);

    private static string ProcName(GunicornConfig config) => config.Process.ProcName ?? config.App.Target ?? config.Process.DefaultProcName;

    /// <summary>Why the serving generation has fewer ready workers than it should, in words for the log and ctl status.</summary>
    private string? ShortOfWorkers()
    {
        var ready = _workers.Count(w => w.Generation == _serving && w.State == WorkerState.Ready && !w.RecycleRequested);
        if (ready >= _serving.TargetWorkers || _lastFailure is null)
        {
            return null;
        }
        var retry = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), _nextSpawnAllowed);
        return $"Short of workers: {_serving} has {ready} of {_serving.TargetWorkers} ready; {_lastFailure}"
            + (retry > TimeSpan.Zero ? $"; retrying in {retry.TotalSeconds:0.#} s." : "; retrying.");
    }

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
        worker.Process.Signal(signal);
    }

    private void PublishRoutes() => _front.Publish(_workers
        .Where(w => w.Generation == _serving && w.State == WorkerState.Ready)
        .Select(w => new WorkerEndpoint(w.Key, w.SocketPath, w.Generation.Config.Pool.ConcurrencyPerWorker))
        .ToList());
}
