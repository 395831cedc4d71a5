using System.Net;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Backend;

/// <summary>The arbiter with real worker processes, real signals and HTTP through the front.</summary>
public class WorkerPoolTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task ThreeWorkers_HaveTitles_AndEachServes()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "3", "--name", "pool", "@echo"]);
        var workers = server.WorkerPids();
        Assert.Equal(3, workers.Count);
        Assert.All(workers, pid => Assert.Equal("gunicorn-net: worker [pool]", ProcessTree.Title(pid)));
        Assert.Equal("gunicorn-net: master [pool]", ProcessTree.Title(server.Pid));

        // Concurrent slow requests spread over the workers (least requests first).
        var responses = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => server.Client.GetStringAsync("/sleep?seconds=0.5")));
        var servedBy = responses.Select(r => int.Parse(r.Split(' ')[^1])).ToHashSet();
        Assert.Equal(workers.ToHashSet(), servedBy);
    }

    [Fact]
    public async Task KilledWorker_IsReplaced_AndOthersKeepServing()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "2", "@echo"]);
        var before = server.WorkerPids();
        var victim = before[0];
        var from = server.LineCount;
        using var load = new CancellationTokenSource();
        var failures = 0;
        var served = 0;
        var loadTask = Task.Run(async () =>
        {
            while (!load.IsCancellationRequested)
            {
                var response = await server.Client.GetAsync("/pid");
                if (response.IsSuccessStatusCode) { Interlocked.Increment(ref served); }
                else { Interlocked.Increment(ref failures); }
            }
        });
        await Eventually.True(() => served > 20, Deadline, "load to start");
        Signals.Send(victim, Signals.KILL);
        var killedAt = System.Diagnostics.Stopwatch.StartNew();
        await server.WaitForLogAsync($@"Worker \(pid:{victim}\) was sent SIGKILL! Perhaps out of memory\?", Deadline, from);
        await Eventually.True(() => server.WorkerPids().Count == 2 && !server.WorkerPids().Contains(victim), Deadline, "a replacement worker");
        await server.WaitForLogAsync(@"Booting worker with pid", Deadline, from);
        Assert.True(killedAt.Elapsed < TimeSpan.FromSeconds(2) + TimeSpan.FromSeconds(1), $"replacement took {killedAt.Elapsed}");
        var servedAfterReplacement = served;
        await Eventually.True(() => served > servedAfterReplacement + 50, Deadline, "requests after the replacement");
        load.Cancel();
        await loadTask;
        // Only requests in flight on the killed worker at the moment of the kill may fail (at most one: sync worker).
        Assert.True(failures <= 1, $"{failures} failed requests of {served}.\n{server.Log}");
    }

    [Fact]
    public async Task StoppedWorker_TimesOut_Gets504_AndIsReplaced()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "1", "--timeout", "2", "--log-level", "debug", "@echo"]);
        var worker = server.WorkerPids().Single();
        var from = server.LineCount;
        var slow = server.Client.GetAsync("/sleep?seconds=30");
        await server.WaitForLogAsync(@"\[DEBUG\] Sleeping 30 s", Deadline, from);
        Signals.Send(worker, Signals.STOP);
        var stopped = System.Diagnostics.Stopwatch.StartNew();
        await Eventually.True(() => !ProcessTree.IsAlive(worker), Deadline, "the stopped worker to be killed");
        var killedAfter = stopped.Elapsed;
        var response = await slow;
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        // timeout (2 s) + 2 s, plus 1 s of slack for a loaded CI machine.
        Assert.True(killedAfter < TimeSpan.FromSeconds(2 + 2 + 1), $"killed after {killedAfter}.\n{server.Log}");
        await server.WaitForLogAsync($@"WORKER TIMEOUT \(pid:{worker}\) while serving GET /sleep", Deadline, from);
        await Eventually.True(() => server.WorkerPids().Count == 1, Deadline, "a replacement worker");
        await Eventually.True(async () => (await server.Client.GetAsync("/pid")).IsSuccessStatusCode, Deadline, "service again");
    }
}
