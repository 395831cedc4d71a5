using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Gunicorn.Backend.Arbiter;
using Gunicorn.Settings.Records;
using Gunicorn.Shared.Contract;
using Gunicorn.Shared.Platform;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Backend;

/// <summary>
/// The arbiter's state machine without processes: a scripted launcher plays the workers (ready, failing to load,
/// hanging, crashing) and a recording front plays the routing, so reload, respawn, recycle and resize can be driven
/// step by step and every decision checked.
/// </summary>
public class ArbiterStateTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Reload_SwitchesTheFrontToTheNewGenerationOnceItIsReady_AndRetiresTheOld()
    {
        await using var run = Harness.Start(["-w", "2", "@hello"]);
        await run.WaitAsync(s => s.Workers.Count(w => w.State == "ready") == 2, "the first generation");
        var first = run.Launcher.Spawned.Select(s => s.Worker).ToList();

        run.NextConfig = ["-w", "2", "@echo"];
        await run.SignalAsync(Posix.SIGHUP);

        var status = await run.WaitAsync(s => s.ServingGeneration == 2 && s.Workers.All(w => w.Generation == 2), "generation 2 alone");
        Assert.Equal(2, status.Workers.Count);
        Assert.All(run.Launcher.Spawned.Where(s => s.Info.Generation == 2), s => Assert.Equal("@echo", s.Info.App));
        Assert.All(run.Front.Published.Last(), key => Assert.StartsWith("g2-", key));
        Assert.All(first, w => Assert.Contains(Posix.SIGTERM, ((ScriptedProcess)w.Process).Signals));
        Assert.Equal("@echo", run.Front.Applied.Single().App.Target);
    }

    [Fact]
    public async Task FailedReload_ThenACrash_TheReplacementRunsTheServingGenerationsApp()
    {
        await using var run = Harness.Start(["-w", "2", "@hello"]);
        await run.WaitAsync(s => s.Workers.Count(w => w.State == "ready") == 2, "the first generation");

        run.NextConfig = ["-w", "2", "@broken"];
        await run.SignalAsync(Posix.SIGHUP);
        var status = await run.WaitAsync(s => s.PendingGeneration is null && s.LastReload is { } last && last.Contains("failed"), "the reload to fail");
        Assert.Equal(1, status.ServingGeneration);
        Assert.Empty(run.Front.Applied); // nothing of the failed configuration reached the front

        var victim = run.Launcher.Spawned.First(s => s.Info.Generation == 1).Worker;
        ((ScriptedProcess)victim.Process).Exit(1); // a crash, not asked for
        await run.WaitAsync(s => s.Workers.Count(w => w.State == "ready") == 2 && s.Workers.All(w => w.Pid != victim.Pid), "the replacement");

        var replacement = run.Launcher.Spawned.Last();
        Assert.Equal(1, replacement.Info.Generation);
        Assert.Equal("@hello", replacement.Info.App);
    }

    [Fact]
    public async Task RecycleDuringAReload_ReplacesTheWorkerInItsOwnGeneration_AndTheSwitchRetiresEveryOldWorker()
    {
        await using var run = Harness.Start(["-w", "2", "@hello"]);
        await run.WaitAsync(s => s.Workers.Count(w => w.State == "ready") == 2, "the first generation");
        run.Launcher.HoldReady = true; // the new generation boots slowly

        run.NextConfig = ["-w", "2", "@echo"];
        await run.SignalAsync(Posix.SIGHUP);
        await run.WaitAsync(s => s.PendingGeneration == 2 && s.Workers.Count(w => w.Generation == 2) == 2, "generation 2 booting");
        var tired = run.Launcher.Spawned.First(s => s.Info.Generation == 1).Worker;
        await run.Arbiter.Events.WriteAsync(new WorkerWantsRecycling(tired));
        await run.WaitAsync(_ => run.Launcher.Spawned.Count(s => s.Info.Generation == 1) == 3, "a generation-1 replacement");
        await run.WaitAsync(s => s.Workers.All(w => w.Pid != tired.Pid), "the recycled worker to retire");

        run.Launcher.ReleaseHeld();
        var status = await run.WaitAsync(s => s.ServingGeneration == 2 && s.Workers.All(w => w.Generation == 2), "the switch");
        Assert.Equal(2, status.Workers.Count);
        Assert.All(run.Front.Published.Last(), key => Assert.StartsWith("g2-", key));
    }

    [Fact]
    public async Task TtinDuringAReload_TheNewGenerationServesWithTheNewCount()
    {
        await using var run = Harness.Start(["-w", "2", "@hello"]);
        await run.WaitAsync(s => s.Workers.Count(w => w.State == "ready") == 2, "the first generation");
        run.Launcher.HoldReady = true;

        run.NextConfig = ["-w", "2", "@echo"];
        await run.SignalAsync(Posix.SIGHUP);
        await run.WaitAsync(s => s.PendingGeneration == 2, "generation 2 booting");
        await run.SignalAsync(Posix.SIGTTIN);
        await run.WaitAsync(s => s.TargetWorkers == 3, "the new count");
        run.Launcher.HoldReady = false;
        run.Launcher.ReleaseHeld();

        var status = await run.WaitAsync(s => s.ServingGeneration == 2 && s.Workers.Count(w => w.Generation == 2 && w.State == "ready") == 3
            && s.Workers.All(w => w.Generation == 2), "three workers of generation 2");
        Assert.Equal(3, status.TargetWorkers);
    }

    [Fact]
    public async Task AHookThatHangs_IsCutAtHookTimeout_AndNeitherStallsSupervisionNorCostsAWorker()
    {
        var config = Path.Combine(Directory.CreateTempSubdirectory("gunicorn-net-hanging-hook-").FullName, "gunicorn.yaml");
        File.WriteAllText(config, "workers: 2\ntimeout: 2\nhook_timeout: 1\npre_fork: /bin/sleep 30\nwsgi_app: \"@hello\"\n");
        await using var run = Harness.Start(["-c", config], heartbeats: true);
        var watch = Stopwatch.StartNew();
        await run.WaitAsync(s => s.Workers.Count(w => w.State == "ready") == 2, "both workers despite the hanging hook");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");

        // Each spawn blocks the loop for hook_timeout; heartbeats that queued meanwhile keep every worker alive.
        run.NextConfig = ["-c", config];
        await run.SignalAsync(Posix.SIGHUP);
        await run.WaitAsync(s => s.ServingGeneration == 2 && s.Workers.All(w => w.Generation == 2), "the reload");
        Assert.DoesNotContain(run.Launcher.Spawned, s => ((ScriptedProcess)s.Worker.Process).Signals.Contains(Posix.SIGABRT));
    }

    /// <summary>An arbiter run with scripted workers and a recording front.</summary>
    private sealed class Harness : IAsyncDisposable
    {
        private volatile ScriptedLauncher? _launcher;

        public Arbiter Arbiter { get; private set; } = null!;
        public RecordingFront Front { get; } = new();
        public ScriptedLauncher Launcher => _launcher!;
        public Task<int> Running { get; private set; } = null!;

        /// <summary>What the next HUP reads as the configuration.</summary>
        public string[]? NextConfig { get; set; }

        public static Harness Start(string[] args, bool heartbeats = false)
        {
            var harness = new Harness();
            harness.Arbiter = new Arbiter(WorkerGeneration.Create(1, Config(args)), harness.Front,
                () => harness.NextConfig is { } next ? Config(next) : null,
                Directory.CreateTempSubdirectory("gunicorn-net-arbiter-").FullName,
                events => harness._launcher = new ScriptedLauncher(events, heartbeats))
            {
                ListenToSignals = false,
            };
            harness.Running = Task.Run(harness.Arbiter.RunAsync);
            // The loop makes its launcher when it spawns the first workers.
            Assert.True(SpinWait.SpinUntil(() => harness._launcher is not null, Deadline), "the arbiter never spawned");
            return harness;
        }

        private static GunicornConfig Config(string[] args) =>
            ConfigBinder.Bind(Resolve.Valid(args.Contains("-c") ? args : ["-c", "/dev/null", .. args]), "test");

        public Task SignalAsync(int signal) => Arbiter.Events.WriteAsync(new SignalReceived(signal)).AsTask();

        public async Task<ArbiterStatus> StatusAsync()
        {
            var reply = new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously);
            await Arbiter.Events.WriteAsync(new ControlRequest("status", null, reply));
            return (ArbiterStatus)await reply.Task.WaitAsync(Deadline);
        }

        public Task<ArbiterStatus> WaitAsync(Func<ArbiterStatus, bool> condition, string what) =>
            Eventually.Get(async () => await StatusAsync() is var status && condition(status) ? status : null, Deadline, what);

        public async ValueTask DisposeAsync()
        {
            if (!Running.IsCompleted)
            {
                await SignalAsync(Posix.SIGQUIT);
            }
            await Running.WaitAsync(Deadline);
        }
    }

    /// <summary>Workers that answer as scripted: ready at once (or when released), failing to load when the app is <c>@broken</c>.</summary>
    private sealed class ScriptedLauncher(ChannelWriter<ArbiterEvent> events, bool heartbeats) : IWorkerLauncher
    {
        private static int _nextPid = 3_000_000;
        private readonly ConcurrentQueue<WorkerHandle> _held = new();

        public ConcurrentQueue<(WorkerStartInfo Info, WorkerHandle Worker)> SpawnedQueue { get; } = new();
        public IReadOnlyList<(WorkerStartInfo Info, WorkerHandle Worker)> Spawned => SpawnedQueue.ToList();

        /// <summary>While true, workers of generations after the first stay booting until <see cref="ReleaseHeld"/>.</summary>
        public bool HoldReady { get; set; }

        public WorkerHandle Spawn(WorkerStartInfo info, WorkerGeneration generation)
        {
            var process = new ScriptedProcess(Interlocked.Increment(ref _nextPid), events);
            var worker = new WorkerHandle(process, generation, info.Age, info.SocketPath);
            process.Worker = worker;
            SpawnedQueue.Enqueue((info, worker));
            if (info.App == "@broken")
            {
                process.Exit(WorkerContract.AppLoadError);
            }
            else if (HoldReady && info.Generation > 1)
            {
                _held.Enqueue(worker);
            }
            else
            {
                events.TryWrite(new WorkerReady(worker));
            }
            if (heartbeats)
            {
                process.BeatEvery(TimeSpan.FromMilliseconds(200));
            }
            return worker;
        }

        public void ReleaseHeld()
        {
            while (_held.TryDequeue(out var worker))
            {
                events.TryWrite(new WorkerReady(worker));
            }
        }
    }

    /// <summary>A worker process in name only: signals are recorded, and the ones that end a worker end it.</summary>
    private sealed class ScriptedProcess(int pid, ChannelWriter<ArbiterEvent> events) : IWorkerProcess
    {
        private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private Timer? _heartbeat;

        public WorkerHandle Worker { get; set; } = null!;
        public int Pid { get; } = pid;
        public ConcurrentBag<int> Signals { get; } = [];

        public void Signal(int signal)
        {
            Signals.Add(signal);
            if (signal is Posix.SIGTERM or Posix.SIGQUIT or Posix.SIGINT or Posix.SIGKILL or Posix.SIGABRT)
            {
                Exit(signal == Posix.SIGTERM ? 0 : 1);
            }
        }

        public void Exit(int code)
        {
            if (_exited.TrySetResult())
            {
                _heartbeat?.Dispose();
                events.TryWrite(new WorkerExited(Worker, code));
            }
        }

        public void BeatEvery(TimeSpan interval) =>
            _heartbeat = new Timer(_ => events.TryWrite(new WorkerHeartbeat(Worker, 0, Stopwatch.GetTimestamp())), null, TimeSpan.Zero, interval);

        public Task WaitForExitAsync() => _exited.Task;

        public void Dispose() => _heartbeat?.Dispose();
    }

    /// <summary>A front that records what the arbiter asks of it.</summary>
    private sealed class RecordingFront : IFront
    {
        public ConcurrentQueue<IReadOnlyList<string>> PublishedQueue { get; } = new();
        public IReadOnlyList<IReadOnlyList<string>> Published => PublishedQueue.ToList();
        public ConcurrentQueue<GunicornConfig> AppliedQueue { get; } = new();
        public IReadOnlyList<GunicornConfig> Applied => AppliedQueue.ToList();

        public void Publish(IReadOnlyList<WorkerEndpoint> ready) => PublishedQueue.Enqueue(ready.Select(w => w.Key).ToList());

        public int InFlight(string workerKey) => 0;

        public string? DescribeInFlight(string workerKey) => null;

        public void MarkTimedOut(string workerKey)
        {
        }

        public Task ApplyAsync(GunicornConfig config)
        {
            AppliedQueue.Enqueue(config);
            return Task.CompletedTask;
        }

        public void BeginDrain()
        {
        }

        public Task StopAsync(TimeSpan grace) => Task.CompletedTask;
    }
}
