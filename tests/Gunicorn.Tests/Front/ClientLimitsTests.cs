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

    /// <summary>
    /// Opens <paramref name="connections"/> kept-alive connections through a path outside the limits, so that a burst
    /// timed afterwards arrives at once instead of spread over connection setups (which a busy machine stretches past
    /// the limiter's refill period).
    /// </summary>
    private static async Task WarmConnectionsAsync(GunicornServer server, int connections) =>
        Assert.All(await Task.WhenAll(Enumerable.Range(0, connections).Select(_ => server.Client.GetAsync("/pid"))),
            r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));

    /// <summary>
    /// Above 10r/s the bucket is refilled in 100 ms steps: it must hold a whole step, or 100r/s with nodelay and
    /// burst 0 would let 10 requests a second through (a bucket never holds more than its limit). In steady state a
    /// bucket serves min(limit, step) tokens a step; with nodelay, what it holds beyond a step is the burst.
    /// </summary>
    [Theory]
    [InlineData(100, 0, true)]
    [InlineData(100, 5, true)]
    [InlineData(100, 0, false)]
    [InlineData(50, 3, false)]
    [InlineData(5, 2, true)]
    [InlineData(0.5, 0, true)]
    public void TokenBucket_LetsTheConfiguredRateThrough_AndHoldsTheBurst(double perSecond, int burst, bool noDelay)
    {
        var options = ClientLimits.TokenBucket(perSecond, burst, noDelay);
        var steadyRate = Math.Min(options.TokenLimit, options.TokensPerPeriod) / options.ReplenishmentPeriod.TotalSeconds;
        Assert.Equal(perSecond, steadyRate, precision: 6);
        Assert.Equal(noDelay ? burst : 0, options.TokenLimit - options.TokensPerPeriod);
        Assert.Equal(noDelay ? 0 : burst, options.QueueLimit);
    }

    [Fact]
    public async Task NoDelay_ServesTheBurstAtOnce_RefusesTheRest_ThenRefillsAtTheRate()
    {
        // 1r/s: one token a second; burst 3 with nodelay: 4 requests at once, then 429.
        await using var server = await StartAsync("limit_req_rate: 1r/s\nlimit_req_burst: 3\nlimit_req_nodelay: true\nlimit_paths: /limited\n");
        await WarmConnectionsAsync(server, 6);
        var watch = Stopwatch.StartNew();
        var first = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => server.Client.GetAsync("/limited/pid")));
        // Delayed requests would wait a second each for their tokens; served at once means well under that.
        Assert.True(watch.Elapsed < TimeSpan.FromMilliseconds(900), $"the burst took {watch.ElapsedMilliseconds} ms: it must not be delayed");
        Assert.Equal(4, first.Count(r => r.StatusCode == HttpStatusCode.OK));
        var refused = first.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.Equal(2, refused.Count);
        Assert.Contains("limit_req_rate", await refused[0].Content.ReadAsStringAsync());
        Assert.Equal("1", refused[0].Headers.GetValues("Retry-After").Single());

        // The next token comes within 1 s (+ the limiter's 100 ms tick); tolerance: 3 s.
        await Eventually.True(async () => (await server.Client.GetAsync("/limited/pid")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(3),
            "a token after the refill period");
    }

    [Fact]
    public async Task WithoutNoDelay_TheBurstWaitsItsTurnAtTheRate()
    {
        // 2r/s: one token every 500 ms. Burst 2 without nodelay: two requests wait in order, a fourth is refused.
        await using var server = await StartAsync("limit_req_rate: 2r/s\nlimit_req_burst: 2\nlimit_paths: /limited\n",
            "-w", "2", "-k", "gthread", "--threads", "4");
        await WarmConnectionsAsync(server, 4);
        var watch = Stopwatch.StartNew();
        var timed = await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            var response = await server.Client.GetAsync("/limited/pid");
            return (response.StatusCode, watch.Elapsed);
        }));
        var served = timed.Where(t => t.StatusCode == HttpStatusCode.OK).Select(t => t.Elapsed).Order().ToList();
        Assert.Equal(3, served.Count);
        Assert.Single(timed, t => t.StatusCode == HttpStatusCode.TooManyRequests);
        // Tolerances: the first at once (< 400 ms), the last two spaced by the rate: at least 350 ms and 850 ms in
        // (500 and 1000 ms less the limiter's 100 ms tick alignment and clock jitter).
        Assert.True(served[0] < TimeSpan.FromMilliseconds(400), $"first served after {served[0].TotalMilliseconds} ms");
        Assert.True(served[1] >= TimeSpan.FromMilliseconds(350), $"second served after {served[1].TotalMilliseconds} ms: not delayed");
        Assert.True(served[2] >= TimeSpan.FromMilliseconds(850), $"third served after {served[2].TotalMilliseconds} ms: not delayed");
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
        // One request a minute: the first address's token cannot come back however long the flood takes on a busy
        // machine (at 1r/s it did, after a loop over a second), and an empty bucket is never dropped as idle.
        using var limits = new ClientLimits(new ClientLimitsConfig(1.0 / 60, 0, true, 429, 0, 429, []));
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
