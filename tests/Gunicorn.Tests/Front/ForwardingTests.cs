using System.Net;
using System.Text.Json;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Front;

/// <summary>Dispatch, queueing, retries and forwarding headers through the real front.</summary>
public class ForwardingTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task KillingOneOfTwoWorkers_UnderGetLoad_FailsNoRequest()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "2", "@echo"]);
        var victim = server.WorkerPids()[0];
        var failures = new List<string>();
        var served = 0;
        using var load = new CancellationTokenSource();
        var clients = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!load.IsCancellationRequested)
            {
                var response = await server.Client.GetAsync("/sleep?seconds=0.002");
                if (response.IsSuccessStatusCode) { Interlocked.Increment(ref served); }
                else { lock (failures) { failures.Add($"{(int)response.StatusCode}"); } }
            }
        })).ToList();
        await Eventually.True(() => served > 50, Deadline, "load");
        Signals.Send(victim, Signals.KILL);
        await Eventually.True(() => server.WorkerPids().Count == 2 && !server.WorkerPids().Contains(victim), Deadline, "a replacement");
        var before = served;
        await Eventually.True(() => served > before + 50, Deadline, "load after the replacement");
        load.Cancel();
        await Task.WhenAll(clients);
        Assert.True(failures.Count == 0, $"{failures.Count} failed GETs ({string.Join(",", failures)}) of {served}.\n{server.Log}");
    }

    [Fact]
    public async Task AWorkerDyingMidRequest_RetriesAGetOnAnotherWorker_ButNeverAPost()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "2", "--log-level", "debug", "@echo"]);
        var from = server.LineCount;
        var get = server.Client.GetStringAsync("/sleep?seconds=2");
        var busy = int.Parse((await server.WaitForLogAsync(@"\[(\d+)\] \[DEBUG\] Sleeping 2 s", Deadline, from)).Groups[1].Value);
        Signals.Send(busy, Signals.KILL);
        var answer = await get;
        Assert.StartsWith("slept 2s in ", answer);
        Assert.DoesNotContain(busy.ToString(), answer);

        await Eventually.True(() => server.WorkerPids().Count == 2 && !server.WorkerPids().Contains(busy), Deadline, "a replacement worker");
        await server.WaitForLogAsync(@"Booting worker with pid", Deadline, from);
        from = server.LineCount;
        var post = server.Client.PostAsync("/sleep?seconds=2", new StringContent("not to be repeated"));
        busy = int.Parse((await server.WaitForLogAsync(@"\[(\d+)\] \[DEBUG\] Sleeping 2 s", Deadline, from)).Groups[1].Value);
        Signals.Send(busy, Signals.KILL);
        Assert.Equal(HttpStatusCode.BadGateway, (await post).StatusCode);
        Assert.Single(server.Log.Split('\n').Skip(from), line => line.Contains("[DEBUG] Sleeping 2 s"));
    }

    [Fact]
    public async Task SyncWorkers_TakeOneRequestEach_TheThirdWaits_AndAFullQueueGets503()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "2", "--request-queue-size", "1", "--log-level", "debug", "@echo"]);
        var first = server.Client.GetAsync("/sleep?seconds=2");
        var second = server.Client.GetAsync("/sleep?seconds=2");
        await Eventually.True(() => System.Text.RegularExpressions.Regex.Matches(server.Log, "Sleeping 2 s").Count == 2, Deadline, "both workers busy");
        // Both workers are busy and the queue holds one: of three more requests, one waits and two are refused.
        var more = Enumerable.Range(0, 3).Select(_ => server.Client.GetAsync("/pid")).ToList();
        var refused = 0;
        foreach (var response in more)
        {
            var finished = await Task.WhenAny(response, Task.Delay(TimeSpan.FromSeconds(1)));
            if (finished == response && (await response).StatusCode == HttpStatusCode.ServiceUnavailable)
            {
                Assert.NotNull((await response).Headers.RetryAfter);
                refused++;
            }
        }
        Assert.Equal(2, refused);
        var waited = more.Single(r => !r.IsCompleted || r.Result.StatusCode != HttpStatusCode.ServiceUnavailable);
        // About a second has passed; the workers sleep for two: the queued request is still waiting.
        Assert.False(waited.IsCompleted, "the queued request was served while both workers were busy");
        Assert.Equal(HttpStatusCode.OK, (await waited).StatusCode);
        Assert.True((await first).IsSuccessStatusCode && (await second).IsSuccessStatusCode);
    }

    [Fact]
    public async Task ForwardingHeaders_FromAnUntrustedPeer_AreReplaced()
    {
        await using var server = await GunicornServer.StartAsync(["--forwarded-allow-ips", "10.9.9.9", "@echo"]);
        var request = new HttpRequestMessage(HttpMethod.Get, "/h");
        request.Headers.Add("X-Forwarded-For", "6.6.6.6");
        request.Headers.Add("X-Forwarded-Proto", "https");
        request.Headers.Add("X-Real-IP", "6.6.6.6");
        var seen = await EchoHeadersAsync(server, request);
        Assert.Equal("127.0.0.1", seen["X-Forwarded-For"]);
        Assert.Equal("http", seen["X-Forwarded-Proto"]);
        Assert.False(seen.ContainsKey("X-Real-IP"));
        Assert.Equal(server.BaseAddress.Authority, seen["Host"]);
    }

    [Fact]
    public async Task ForwardingHeaders_FromATrustedPeer_AreKept_AndSecureSchemeHeadersCount()
    {
        await using var server = await GunicornServer.StartAsync(["@echo"]); // 127.0.0.1 is trusted by default
        var request = new HttpRequestMessage(HttpMethod.Get, "/h");
        request.Headers.Add("X-Forwarded-For", "203.0.113.7");
        request.Headers.Add("X-Forwarded-Proto", "https");
        var seen = await EchoHeadersAsync(server, request);
        Assert.Equal("203.0.113.7, 127.0.0.1", seen["X-Forwarded-For"]);
        Assert.Equal("https", seen["X-Forwarded-Proto"]);

        var contradictory = new HttpRequestMessage(HttpMethod.Get, "/h");
        contradictory.Headers.Add("X-Forwarded-Proto", "https");
        contradictory.Headers.Add("X-Forwarded-Ssl", "off");
        Assert.Equal(HttpStatusCode.BadRequest, (await server.Client.SendAsync(contradictory)).StatusCode);
    }

    private static async Task<Dictionary<string, string>> EchoHeadersAsync(GunicornServer server, HttpRequestMessage request)
    {
        var response = await server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        return json.GetProperty("headers").EnumerateArray()
            .GroupBy(h => h[0].GetString()!, StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => string.Join(", ", g.Select(h => h[1].GetString())), StringComparer.OrdinalIgnoreCase);
    }
}
