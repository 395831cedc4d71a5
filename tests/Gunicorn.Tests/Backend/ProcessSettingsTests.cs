using Gunicorn.Shared.Platform;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Backend;

/// <summary>daemon, errorlog + USR1, capture_output, raw_env, worker-side hooks, worker_batch_scheduling.</summary>
public class ProcessSettingsTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Daemon_Detaches_IntoItsOwnSession_AndStopsOnTerm()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-daemon-").FullName;
        var pidFile = Path.Combine(dir, "d.pid");
        var log = Path.Combine(dir, "error.log");
        var launcher = await Binary.RunAsync(["-D", "-p", pidFile, "--error-logfile", log, "-b", "127.0.0.1:0", "@echo"], dir);
        Assert.Equal(0, launcher.ExitCode);
        var pid = int.Parse(await Eventually.Get(
            () => Task.FromResult(File.Exists(pidFile) && File.ReadAllText(pidFile).Trim() is { Length: > 0 } text ? text : null),
            Deadline, "the pidfile"));
        try
        {
            Assert.Contains($"daemonized as pid {pid}", launcher.Stderr);
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var session = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[3]);
            Assert.Equal(pid, session);
            await Eventually.True(() => File.ReadAllText(log).Contains("All 1 workers ready"), Deadline, "the daemon's workers");
            var port = System.Text.RegularExpressions.Regex.Match(File.ReadAllText(log), @"Listening at: http://127\.0\.0\.1:(\d+)").Groups[1].Value;
            using var client = new HttpClient();
            Assert.Equal(pid.ToString(), (await client.GetStringAsync($"http://127.0.0.1:{port}/env?name=GUNICORN_NET_DAEMON_CHILD")) == "" ? pid.ToString() : "leaked");
        }
        finally
        {
            Signals.Send(pid, Signals.TERM);
        }
        await Eventually.True(() => !ProcessTree.IsAlive(pid) && !File.Exists(pidFile), Deadline, "the daemon to stop and remove its pidfile");
    }

    [Fact]
    public async Task ErrorLogFile_IsReopenedOnUsr1_ByMasterAndWorkers()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-log-").FullName;
        var log = Path.Combine(dir, "error.log");
        await using var server = await GunicornServer.StartAsync(["-b", "127.0.0.1:0", "--error-logfile", log, "--log-level", "debug", "@echo"], dir, waitForReady: false);
        await Eventually.True(() => File.Exists(log) && File.ReadAllText(log).Contains("All 1 workers ready"), Deadline, "startup in the log file");
        var port = System.Text.RegularExpressions.Regex.Match(File.ReadAllText(log), @"Listening at: http://127\.0\.0\.1:(\d+)").Groups[1].Value;
        File.Move(log, log + ".1");
        server.Signal(Signals.USR1);
        // As gunicorn, "Handling signal" is the last line of the old file; the reopen creates the new one.
        await Eventually.True(() => File.Exists(log), Deadline, "the master to reopen its log");
        Assert.Contains("Handling signal: usr1", File.ReadAllText(log + ".1"));
        // The master passes USR1 on to the worker, which reopens on its own time: its lines then reach the new file.
        using var client = new HttpClient();
        await Eventually.True(async () =>
        {
            await client.GetStringAsync($"http://127.0.0.1:{port}/sleep?seconds=0");
            return File.ReadAllText(log).Contains("[DEBUG] Sleeping 0 s");
        }, Deadline, "the worker to write to the reopened file");
        server.Signal(Signals.TERM);
        Assert.Equal(0, await server.WaitForExitAsync(Deadline));
        var fresh = File.ReadAllText(log);
        Assert.Contains("Handling signal: term", fresh);
        Assert.Matches(@"\[\d+\] \[INFO\] Worker exiting \(pid: \d+\)", fresh);
    }

    [Fact]
    public async Task CaptureOutput_SendsTheAppsPrintsToTheErrorLog_AndRawEnvReachesWorkers()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-capture-").FullName;
        var log = Path.Combine(dir, "error.log");
        await using var server = await GunicornServer.StartAsync(
            ["--error-logfile", log, "--capture-output", "-e", "GREETING=hello there", "@echo"], dir, waitForReady: false);
        await Eventually.True(() => File.Exists(log) && File.ReadAllText(log).Contains("All 1 workers ready"), Deadline, "startup");
        var port = System.Text.RegularExpressions.Regex.Match(File.ReadAllText(log), @"Listening at: http://127\.0\.0\.1:(\d+)").Groups[1].Value;
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        Assert.Equal("hello there", await client.GetStringAsync("/env?name=GREETING"));
        await client.GetStringAsync("/print?text=printed-by-the-app");
        await Eventually.True(() => File.ReadAllText(log).Contains("printed-by-the-app"), Deadline, "the print in the error log");
    }

    [Fact]
    public async Task WorkerHooks_RunInTheWorker_OnInitAbortAndExit()
    {
        var recorder = new HookRecorder(["post_worker_init", "worker_abort", "worker_exit", "worker_int"], "GUNICORN_WORKER_PID");
        await using var server = await GunicornServer.StartAsync(["-w", "1", "@echo"], recorder.Directory);
        var worker = server.WorkerPids().Single();
        await Eventually.True(() => recorder.Text.Contains($"post_worker_init {worker}"), Deadline, "post_worker_init");
        Signals.Send(worker, 6); // what the master sends on timeout
        await Eventually.True(() => recorder.Text.Contains($"worker_exit {worker}"), Deadline, "worker_exit");
        // The master's replacement may already have run its own post_worker_init: only this worker's lines count.
        Assert.Equal([$"post_worker_init {worker}", $"worker_abort {worker}", $"worker_exit {worker}"],
            recorder.Lines.Where(line => line.EndsWith($" {worker}", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task WorkerBatchScheduling_PutsEveryWorkerThreadUnderSchedBatch_ButNeverTheMaster()
    {
        await using (var server = await GunicornServer.StartAsync(["-w", "1", "@echo"]))
        {
            var worker = server.WorkerPids().Single();
            Assert.Equal(worker.ToString(), await server.Client.GetStringAsync("/pid")); // its serving threads exist
            Assert.All(Threads(worker), tid => Assert.True(BatchScheduling.IsApplied(tid) || Ended(worker, tid), $"worker thread {tid} is not under SCHED_BATCH"));
            // The master's threads (the front's event thread above all) keep the normal policy.
            Assert.All(Threads(server.Pid), tid => Assert.False(BatchScheduling.IsApplied(tid), $"master thread {tid} is under SCHED_BATCH"));
        }
        await using (var server = await GunicornServer.StartAsync(["-w", "1", "--no-worker-batch-scheduling", "@echo"]))
        {
            Assert.False(BatchScheduling.IsApplied(server.WorkerPids().Single()));
        }
    }

    /// <summary>A thread that ended between the listing and the check (sched_getscheduler then fails).</summary>
    private static bool Ended(int pid, int tid) => !Directory.Exists($"/proc/{pid}/task/{tid}");

    private static IReadOnlyList<int> Threads(int pid)
    {
        var threads = Directory.GetDirectories($"/proc/{pid}/task").Select(t => int.Parse(Path.GetFileName(t))).ToList();
        Assert.NotEmpty(threads);
        return threads;
    }
}
