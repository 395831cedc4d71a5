using System.Diagnostics;
using System.Net;
using Gunicorn.Front.Forwarding;
using Gunicorn.Front.HttpFeatures;
using Gunicorn.Settings.Records;
using Gunicorn.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;

namespace Gunicorn.Tests.Front;

/// <summary>nginx's limit_req (rate, burst, nodelay) and limit_conn, per client address, at the front.</summary>
public class ClientLimitsTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static async Task<GunicornServer> StartAsync(string yaml, params string[] extra)
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-limits-").FullName;
        File.WriteAllText(Path.Combine(dir, "gunicorn.yaml"), yaml);
        return await GunicornServer.StartAsync(["-c", "gunicorn.yaml", .. extra, "@echo"], dir);
    }

    [Fact]
    public async Task NoDelay_ServesTheBurstAtOnce_RefusesTheRest_ThenRefillsAtTheRate()
    {
        // 2r/s: one token every 500 ms; burst 3 with nodelay: 4 requests at once, then 429.
        await using var server = await StartAsync("limit_req_rate: 2r/s\nlimit_req_burst: 3\nlimit_req_nodelay: true\n");
        var watch = Stopwatch.StartNew();
        var first = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => server.Client.GetAsync("/pid")));
        Assert.True(watch.Elapsed < TimeSpan.FromMilliseconds(450), $"the burst took {watch.ElapsedMilliseconds} ms: it must not be delayed");
        Assert.Equal(4, first.Count(r => r.StatusCode == HttpStatusCode.OK));
        var refused = first.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.Equal(2, refused.Count);
        Assert.Contains("limit_req_rate", await refused[0].Content.ReadAsStringAsync());
        Assert.Equal("1", refused[0].Headers.GetValues("Retry-After").Single());

        // The next token comes within 500 ms (+ the limiter's 100 ms tick); tolerance: 2 s.
        await Eventually.True(async () => (await server.Client.GetAsync("/pid")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(2),
            "a token after the refill period");
    }

    [Fact]
    public async Task WithoutNoDelay_TheBurstWaitsItsTurnAtTheRate()
    {
        // 5r/s: one token every 200 ms. Burst 2 without nodelay: two requests wait in order, a fourth is refused.
        await using var server = await StartAsync("limit_req_rate: 5r/s\nlimit_req_burst: 2\n", "-w", "2", "-k", "gthread", "--threads", "4");
        var watch = Stopwatch.StartNew();
        var timed = await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            var response = await server.Client.GetAsync("/pid");
            return (response.StatusCode, watch.Elapsed);
        }));
        var served = timed.Where(t => t.StatusCode == HttpStatusCode.OK).Select(t => t.Elapsed).Order().ToList();
        Assert.Equal(3, served.Count);
        Assert.Single(timed, t => t.StatusCode == HttpStatusCode.TooManyRequests);
        // Tolerances: the first at once (< 150 ms), the last two spaced by the rate: at least 150 ms and 350 ms in
        // (200 and 400 ms less the limiter's 100 ms tick alignment and clock jitter).
        Assert.True(served[0] < TimeSpan.FromMilliseconds(150), $"first served after {served[0].TotalMilliseconds} ms");
        Assert.True(served[1] >= TimeSpan.FromMilliseconds(100), $"second served after {served[1].TotalMilliseconds} ms: not delayed");
        Assert.True(served[2] >= TimeSpan.FromMilliseconds(250), $"third served after {served[2].TotalMilliseconds} ms: not delayed");
    }

    [Fact]
    public async Task LimitConn_RefusesASecondRequestInProgress_FromTheSameAddress()
    {
        await using var server = await StartAsync("workers: 2\nloglevel: debug\nlimit_conn: 1\n");
        var slow = server.Client.GetAsync("/sleep?seconds=2");
        await server.WaitForLogAsync("Sleeping", Deadline);
        var second = await server.Client.GetAsync("/pid");
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.Contains("limit_conn", await second.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, (await slow).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/pid")).StatusCode);

        var status = await Binary.RunAsync(["ctl", "status"], server.WorkingDirectory);
        Assert.Matches(@"limits:\s+0 refused by limit_req_rate, 0 delayed, 1 refused by limit_conn", status.Stdout);
    }

    [Fact]
    public async Task RateCounters_SurviveAReload_AndApplyOnlyUnderLimitPaths()
    {
        await using var server = await StartAsync("limit_req_rate: 1r/m\nlimit_req_nodelay: true\nlimit_paths: /limited\n");
        Assert.All(await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => server.Client.GetAsync("/pid"))),
            r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/limited")).StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await server.Client.GetAsync("/limited/x")).StatusCode);

        var from = server.LineCount;
        server.Signal(Signals.HUP);
        await server.WaitForLogAsync("Reload complete: generation 2 serving", Deadline, from);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await server.Client.GetAsync("/limited")).StatusCode);

        var status = await Binary.RunAsync(["ctl", "status"], server.WorkingDirectory);
        Assert.Matches(@"limits:\s+2 refused by limit_req_rate, 0 delayed, 0 refused by limit_conn", status.Stdout);
    }

    [Fact]
    public async Task AFloodOfDistinctAddresses_KeepsMemoryBounded_AndEveryAddressItsOwnLimit()
    {
        using var limits = new ClientLimits(new ClientLimitsConfig(1, 0, true, 429, 0, 429, []));
        var trusted = new TrustedPeers([]);
        var errors = ErrorPages.None;
        var served = 0;
        RequestDelegate app = _ =>
        {
            served++;
            return Task.CompletedTask;
        };
        GC.Collect();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        for (var i = 0; i < 100_000; i++)
        {
            var context = new DefaultHttpContext();
            context.Connection.RemoteIpAddress = new IPAddress(BitConverter.GetBytes(0x0A000000 + i));
            await limits.InvokeAsync(context, app, trusted, errors);
        }
        var grown = GC.GetTotalMemory(forceFullCollection: true) - before;
        Assert.Equal(100_000, served);
        // Each address's bucket is a few hundred bytes until the library drops it after 10 s idle.
        Assert.True(grown < 100L * 1024 * 1024, $"100,000 addresses cost {grown / 1048576} MiB");

        var again = new DefaultHttpContext();
        again.Connection.RemoteIpAddress = new IPAddress(BitConverter.GetBytes(0x0A000000));
        await limits.InvokeAsync(again, app, trusted, errors);
        Assert.Equal(429, again.Response.StatusCode);
        Assert.Equal(100_000, served);
    }
}
