using System.Diagnostics;
using System.Threading.Channels;
using Gunicorn.Shared.Contract;
using Gunicorn.Shared.Hooks;
using Gunicorn.Shared.Logging;
using Gunicorn.Backend.Platform;
using Gunicorn.Shared.Platform;
using Gunicorn.Settings.Records;

namespace Gunicorn.Backend.Arbiter;

/// <summary>
/// gunicorn's arbiter: spawns and supervises the worker pool. One loop owns all state; signals, pipe messages and
/// process exits arrive as events, and every second the loop checks timeouts, retirements and the worker count.
/// Workers are grouped in generations: a reload starts a complete new generation and switches the front to it only
/// once every new worker is ready.
/// </summary>
public sealed partial class Arbiter
{
    private static readonly TimeSpan TickInterval = TimeSpan.FromMilliseconds(250);

    private readonly Channel<ArbiterEvent> _events = Channel.CreateUnbounded<ArbiterEvent>();
    private readonly IFront _front;
    private readonly Func<GunicornConfig?> _reloadConfig;
    private readonly string _runtimeDirectory;
    private readonly List<WorkerHandle> _workers = [];
    private WorkerGeneration _serving;
    private WorkerGeneration? _pending;
    private long _pendingSince;
    private int _nextAge = 1;
    private bool _booted;
    private int _consecutiveFailures;
    private long _nextSpawnAllowed;
    private string? _lastFailure;
    private int? _exitCode;
    private bool _fastStop;
    private bool _reloadAgain;
    private long? _drainUntil;
    private string? _lastExit;
    private string? _lastReload;

    private readonly Func<ChannelWriter<ArbiterEvent>, IWorkerLauncher> _makeLauncher;
    private CodeWatcher? _codeWatcher;

    /// <summary>reload: a watcher over the app's directories, or null when reload is off.</summary>
    private CodeWatcher? WatchCode(AppConfig app) => app.Reload
        ? new CodeWatcher(_events.Writer, [app.Chdir, .. app.PythonPath], app.ReloadExtraFiles, app.Chdir)
        : null;

    private sealed class DisposeAction(Action action) : IDisposable
    {
        public void Dispose() => action();
    }

    /// <param name="first">The first generation (<see cref="WorkerGeneration.Create"/>).</param>
    /// <param name="reloadConfig">Re-reads the configuration for HUP; returns null (having logged why) when it is invalid.</param>
    /// <param name="launcher">Makes the launcher, given where its workers' messages go (default: real processes).</param>
    public Arbiter(WorkerGeneration first, IFront front, Func<GunicornConfig?> reloadConfig, string runtimeDirectory,
        Func<ChannelWriter<ArbiterEvent>, IWorkerLauncher>? launcher = null)
    {
        _serving = first;
        _front = front;
        _reloadConfig = reloadConfig;
        _runtimeDirectory = runtimeDirectory;
        _makeLauncher = launcher ?? (events => new WorkerLauncher(events));
    }

    /// <summary>Whether the loop listens to the process's POSIX signals (a master does; a test sends SignalReceived events).</summary>
    public bool ListenToSignals { get; init; } = true;

    /// <summary>The configuration in force: the serving generation's (a reload commits its own only when it switches).</summary>
    private GunicornConfig Config => _serving.Config;

    public ChannelWriter<ArbiterEvent> Events => _events.Writer;

    /// <summary>Called on USR1 after the error log was reopened (the front reopens its access log).</summary>
    public Action? ReopenLogs { get; init; }

    /// <summary>USR2: start a new master that inherits the listening sockets (gunicorn's binary upgrade).</summary>
    public Action? StartNewMaster { get; init; }

    /// <summary>Spawns, timeouts, crashes, recycles and reloads so far, for metrics.</summary>
    public SupervisionCounters Counters { get; } = new();

    /// <summary>Workers by state, for status and tests.</summary>
    public IReadOnlyList<WorkerHandle> Workers => _workers;

    /// <summary>Runs until the master should exit; returns the exit code.</summary>
    public async Task<int> RunAsync()
    {
        using var signals = ListenToSignals ? new SignalQueue(_events.Writer) : null;
        _codeWatcher = WatchCode(Config.App);
        using var stopWatching = new DisposeAction(() => _codeWatcher?.Dispose());
        ManageWorkers();
        while (_exitCode is null)
        {
            using var tick = new CancellationTokenSource(TickInterval);
            try
            {
                while (_exitCode is null && await _events.Reader.WaitToReadAsync(tick.Token) && _events.Reader.TryRead(out var next))
                {
                    await ContainAsync(next);
                }
            }
            catch (OperationCanceledException)
            {
                // The tick: fall through to supervision.
            }
            // Whatever arrived meanwhile is handled first: a worker is never judged with its heartbeat still queued.
            while (_exitCode is null && _events.Reader.TryRead(out var queued))
            {
                await ContainAsync(queued);
            }
            if (_exitCode is null)
            {
                try
                {
                    Supervise();
                }
                catch (Exception e)
                {
                    ErrorLog.Error($"Unexpected error while supervising the workers; the master keeps running: {e}");
                }
            }
            if (_exitCode is null && _drainUntil is { } until && Stopwatch.GetTimestamp() >= until)
            {
                await StopGracefullyAsync();
            }
        }
        await StopWorkersAsync(graceful: !_fastStop);
        _serving.Hooks.Run("on_exit", Config.Hooks.OnExit);
        return _exitCode.Value;
    }

    /// <summary>
    /// Handles one event; an unexpected error is logged with its stack and the loop goes on. A master that dies takes
    /// every worker and the listening sockets with it, which is worse than one event handled badly.
    /// </summary>
    private async Task ContainAsync(ArbiterEvent next)
    {
        try
        {
            await HandleAsync(next);
        }
        catch (Exception e)
        {
            ErrorLog.Error($"Unexpected error while handling {next.GetType().Name}; the master keeps running: {e}");
        }
    }

    private async Task HandleAsync(ArbiterEvent next)
    {
        switch (next)
        {
            case SignalReceived signal:
                await HandleSignalAsync(signal.Signal);
                break;
            case WorkerReady ready:
                await OnReadyAsync(ready.Worker);
                break;
            case WorkerHeartbeat beat:
                // Stamped when it arrived, not when the loop got to it (a busy loop must not make workers look late).
                beat.Worker.LastHeartbeat = Math.Max(beat.Worker.LastHeartbeat, beat.ArrivedAt);
                beat.Worker.RequestsServed = beat.RequestsServed;
                break;
            case WorkerWantsRecycling recycle:
                OnMaxRequests(recycle.Worker);
                break;
            case ControlRequest control:
                control.Reply.TrySetResult(await HandleControlAsync(control));
                break;
            case CodeChanged changed:
                // gunicorn's wording, so operators' greps keep working.
                ErrorLog.Info($"Worker reloading: {changed.Path} modified");
                Reload();
                break;
            case ReloadAgain:
                Reload();
                break;
            case WorkerExited exited:
                OnExited(exited.Worker, exited.ExitCode);
                break;
        }
    }

    /// <summary>The worker served max_requests: start its replacement now, retire it when the replacement is ready.</summary>
    private void OnMaxRequests(WorkerHandle worker)
    {
        if (worker is { State: WorkerState.Ready, RecycleRequested: false })
        {
            ErrorLog.Info($"Autorestarting worker after current request. (pid:{worker.Pid}, max_requests reached)");
            Counters.Recycled();
            worker.RecycleRequested = true;
            ManageWorkers();
        }
    }

    private async Task OnReadyAsync(WorkerHandle worker)
    {
        if (worker.State != WorkerState.Booting)
        {
            return;
        }
        worker.MoveTo(WorkerState.Ready);
        worker.LastHeartbeat = Stopwatch.GetTimestamp();
        _consecutiveFailures = 0;
        _lastFailure = null;
        ErrorLog.Debug($"Worker ready (pid:{worker.Pid}, {worker.Key})");

        if (worker.Generation == _pending)
        {
            if (Live(_pending).Count(w => w.State == WorkerState.Ready) >= _pending.TargetWorkers)
            {
                await SwitchToPendingAsync();
            }
            return;
        }
        // A replacement for a worker that reached max_requests is ready: retire one of its generation that asked.
        var recycled = _workers.FirstOrDefault(w => w.RecycleRequested && w.State == WorkerState.Ready && w.Generation == worker.Generation);
        if (recycled is not null)
        {
            Retire(recycled);
        }
        PublishRoutes();
        if (!_booted && Live(_serving).Count(w => w.State == WorkerState.Ready) >= _serving.TargetWorkers)
        {
            _booted = true;
            ErrorLog.Info($"All {_serving.TargetWorkers} workers ready");
            Platform.SystemdNotify.Ready();
            _serving.Hooks.Run("when_ready", Config.Hooks.WhenReady);
        }
    }

    private void OnExited(WorkerHandle worker, int exitCode)
    {
        _workers.Remove(worker);
        worker.Process.Dispose();
        TryDelete(worker.SocketPath);
        if (worker.State is WorkerState.Ready or WorkerState.Retiring)
        {
            PublishRoutes();
        }
        LogExit(worker, exitCode);
        _lastExit = $"{DateTimeOffset.Now:yyyy-MM-dd HH:mm:ss} pid {worker.Pid} (generation {worker.Generation.Number}) exit code {exitCode}{(worker.ExitRequested ? ", asked to stop" : "")}";
        worker.Generation.Hooks.Run("child_exit", worker.Generation.Config.Hooks.ChildExit, new Dictionary<string, string>
        {
            ["GUNICORN_WORKER_PID"] = worker.Pid.ToString(),
            ["GUNICORN_WORKER_AGE"] = worker.Age.ToString(),
            ["GUNICORN_EXIT_CODE"] = exitCode.ToString(),
        });
        if (worker.ExitRequested)
        {
            return;
        }
        Counters.Crashed();
        if (exitCode is WorkerContract.WorkerBootError or WorkerContract.AppLoadError)
        {
            var reason = exitCode == WorkerContract.AppLoadError ? "App failed to load." : "Worker failed to boot.";
            if (worker.Generation == _pending)
            {
                AbandonPending($"{reason} (pid:{worker.Pid}, exit code {exitCode})");
                return;
            }
            if (!_booted)
            {
                // gunicorn's HaltServer: a first start that cannot boot must not crash-loop.
                ErrorLog.Error($"Shutting down: {reason} Worker (pid:{worker.Pid}) exited with code {exitCode}; see its error above.");
                _fastStop = true;
                _exitCode = exitCode;
                return;
            }
            // The serving generation's code can no longer load (e.g. broken on disk): keep serving with the workers
            // it has and retry with backoff; the log and `ctl status` say so.
            _lastFailure = $"a replacement worker (pid:{worker.Pid}) exited with code {exitCode}: {reason}";
        }
        else if (worker.State == WorkerState.Booting)
        {
            _lastFailure = $"a worker (pid:{worker.Pid}) exited with code {exitCode} while booting";
        }
        NoteFailure(worker);
        ManageWorkers();
    }

    private static void LogExit(WorkerHandle worker, int exitCode)
    {
        if (worker.ExitRequested && exitCode == 0)
        {
            // The worker logged "Worker exiting" itself.
            ErrorLog.Debug($"Worker (pid:{worker.Pid}) exited as asked");
            return;
        }
        // .NET reports a child killed by signal N as exit code 128 + N.
        if (exitCode > 128 && exitCode - 128 is var signal && signal < 65)
        {
            var message = $"Worker (pid:{worker.Pid}) was sent {Posix.Name(signal)}!";
            if (signal == Posix.SIGKILL && !worker.Killed)
            {
                ErrorLog.Error(message + " Perhaps out of memory?");
            }
            else if (worker.ExitRequested)
            {
                ErrorLog.Info(message);
            }
            else
            {
                ErrorLog.Warning(message);
            }
            return;
        }
        var text = $"Worker (pid:{worker.Pid}) exited with code {exitCode}";
        if (worker.ExitRequested)
        {
            ErrorLog.Info(text);
        }
        else
        {
            ErrorLog.Error(text + (exitCode == 0 ? " without being asked to stop." : "."));
        }
    }

    /// <summary>A worker that dies young counts toward a crash loop: each one doubles the wait before the next spawn.</summary>
    private void NoteFailure(WorkerHandle worker)
    {
        if (Stopwatch.GetElapsedTime(worker.StartedAt) > TimeSpan.FromSeconds(5) && worker.State != WorkerState.Booting)
        {
            return;
        }
        BackOff();
    }

    /// <summary>One more failure in a row: the next spawn waits twice as long as the last (0.1 s, up to 10 s).</summary>
    private void BackOff()
    {
        _consecutiveFailures++;
        var delay = TimeSpan.FromSeconds(Math.Min(10, 0.1 * Math.Pow(2, _consecutiveFailures - 1)));
        _nextSpawnAllowed = Stopwatch.GetTimestamp() + (long)(delay.TotalSeconds * Stopwatch.Frequency);
        if (_consecutiveFailures >= 3 || _lastFailure is not null)
        {
            ErrorLog.Error($"Worker crash loop: {_consecutiveFailures} workers in a row died within 5 s of starting; next attempt in {delay.TotalSeconds:0.#} s. {ShortOfWorkers() ?? ""} Check the app's errors above.");
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort: the runtime directory is removed at exit anyway.
        }
    }
}
