using System.Net;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Backend;

/// <summary>Signals to the master, with gunicorn's meanings.</summary>
public class SignalTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task TtinAndTtou_ChangeTheWorkerCount()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "2", "@echo"]);
        server.Signal(Signals.TTIN);
        await Eventually.True(() => server.WorkerPids().Count == 3, Deadline, "3 workers after TTIN");
        await server.WaitForLogAsync(@"Number of workers: 2 -> 3", Deadline);
        // Signals of one kind sent back to back can merge in the kernel: send the second after the first was handled.
        server.Signal(Signals.TTOU);
        await server.WaitForLogAsync(@"Number of workers: 3 -> 2", Deadline);
        server.Signal(Signals.TTOU);
        await server.WaitForLogAsync(@"Number of workers: 2 -> 1", Deadline);
        await Eventually.True(() => server.WorkerPids().Count == 1, Deadline, "1 worker after two TTOUs");
        server.Signal(Signals.TTOU);
        await server.WaitForLogAsync(@"Handling signal: ttou", Deadline, server.LineCount - 1);
        Assert.Single(server.WorkerPids());
        Assert.True((await server.Client.GetAsync("/pid")).IsSuccessStatusCode);
    }

    [Fact]
    public async Task Term_WithARequestInFlight_FinishesIt_AndExitsZero()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "1", "--log-level", "debug", "@echo"]);
        var workers = server.WorkerPids();
        var slow = server.Client.GetAsync("/sleep?seconds=3");
        await server.WaitForLogAsync(@"Sleeping 3 s", Deadline);
        server.Signal(Signals.TERM);
        var response = await slow;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("slept 3s", await response.Content.ReadAsStringAsync());
        Assert.Equal(0, await server.WaitForExitAsync(Deadline));
        Assert.All(workers, pid => Assert.False(ProcessTree.IsAlive(pid)));
    }

    /// <summary>HTTP/2 has no Connection header (Kestrel drops it): a draining front tells h2 clients with a GOAWAY.</summary>
    [SkippableFact]
    public async Task TermWithADrainPeriod_SendsHttp2ClientsAGoaway_AndStillAnswers()
    {
        Skip.IfNot(ExternalTool.IsInstalled("/usr/bin/nghttp"), "nghttp (nghttp2-client) is installed by test.sh.");
        await using var server = await GunicornServer.StartAsync(["-w", "1", "--drain-period", "5",
            "--http2-cleartext", "prior-knowledge", "--http-protocols", "h1,h2", "@echo"]);
        var url = new Uri(server.BaseAddress, "/pid").ToString();
        var before = await ExternalTool.RunAsync("/usr/bin/nghttp", ["-v", url], Deadline);
        Assert.Contains(":status: 200", before.Output);
        Assert.DoesNotContain("recv GOAWAY", before.Output);

        server.Signal(Signals.TERM);
        await server.WaitForLogAsync("Draining for 5 s", Deadline);
        var during = await ExternalTool.RunAsync("/usr/bin/nghttp", ["-v", url], Deadline);
        Assert.Contains(":status: 200", during.Output);
        Assert.Contains("recv GOAWAY frame", during.Output);
    }

    [Fact]
    public async Task TermWithADrainPeriod_ReportsUnhealthy_KeepsServing_ThenStops_WithoutAFailedRequest()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "2", "--drain-period", "2", "--health-path", "/healthz", "@echo"]);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await server.Client.GetAsync("/healthz")).StatusCode);
        var answered = 0;
        var failed = new List<int>();
        var closedAt = TimeSpan.Zero;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var load = Task.Run(async () =>
        {
            while (true)
            {
                try
                {
                    var response = await server.Client.GetAsync("/pid");
                    if (response.IsSuccessStatusCode) { Interlocked.Increment(ref answered); }
                    else { lock (failed) { failed.Add((int)response.StatusCode); } }
                }
                catch (HttpRequestException)
                {
                    closedAt = watch.Elapsed; // the listeners are closed: the drain is over
                    return;
                }
            }
        });
        await Eventually.True(() => answered > 20, Deadline, "load");
        var termAt = watch.Elapsed;
        server.Signal(Signals.TERM);
        await server.WaitForLogAsync("Draining for 2 s", Deadline);
        var health = await server.Client.GetAsync("/healthz");
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.True(health.Headers.ConnectionClose);
        await load;
        Assert.Empty(failed);
        Assert.True(closedAt - termAt >= TimeSpan.FromSeconds(1.9), $"listeners closed {closedAt - termAt} after TERM");
        Assert.Equal(0, await server.WaitForExitAsync(Deadline));
    }

    [Fact]
    public async Task Int_StopsFast_AndExitsZero()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "2", "@echo"]);
        var workers = server.WorkerPids();
        server.Signal(Signals.INT);
        Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(5)));
        await Eventually.True(() => workers.All(pid => !ProcessTree.IsAlive(pid)), Deadline, "workers to be gone");
    }

    [Fact]
    public async Task Hup_ReplacesEveryWorker_WithoutAFailedRequest()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "2", "@echo"]);
        var before = server.WorkerPids().ToHashSet();
        using var load = new CancellationTokenSource();
        var failures = 0;
        var loadTask = Task.Run(async () =>
        {
            while (!load.IsCancellationRequested)
            {
                if (!(await server.Client.GetAsync("/pid")).IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        });
        server.Signal(Signals.HUP);
        await server.WaitForLogAsync(@"Reload complete: generation 2 serving", Deadline);
        await Eventually.True(() => before.All(pid => !ProcessTree.IsAlive(pid)), Deadline, "the old workers to exit");
        var after = server.WorkerPids();
        Assert.Equal(2, after.Count);
        Assert.Empty(after.Intersect(before));
        load.Cancel();
        await loadTask;
        Assert.Equal(0, failures);
    }
}
