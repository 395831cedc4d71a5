using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Front;

/// <summary>statsd_host: gunicorn's metric lines reach a StatsD listener; a dead StatsD changes nothing for clients.</summary>
public class StatsdTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task HundredRequests_SendGunicornsLines_CountedExactly()
    {
        using var listener = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)listener.Client.LocalEndPoint!).Port;
        var lines = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        var receiving = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var datagram = await listener.ReceiveAsync(stop.Token);
                foreach (var line in Encoding.ASCII.GetString(datagram.Buffer).Split('\n'))
                {
                    lines.Enqueue(line);
                }
            }
        });
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-statsd-").FullName;
        Directory.CreateDirectory(Path.Combine(dir, "public"));
        await using var server = await GunicornServer.StartAsync(
            ["-w", "2", "--statsd-host", $"127.0.0.1:{port}", "--statsd-prefix", "site", "--dogstatsd-tags", "env:test",
             "--static", "/static=public", "@echo"], dir);

        for (var i = 0; i < 90; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync($"/pid?n={i}")).StatusCode);
        }
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(HttpStatusCode.NotFound, (await server.Client.GetAsync($"/static/missing-{i}.txt")).StatusCode);
        }

        int Count(string line) => lines.Count(l => l == line);
        await Eventually.True(() => Count("site.gunicorn.requests:1|c|@1.0|#env:test") == 100, Deadline, "100 request counters");
        Assert.Equal(90, Count("site.gunicorn.request.status.200:1|c|@1.0|#env:test"));
        Assert.Equal(10, Count("site.gunicorn.request.status.404:1|c|@1.0|#env:test"));
        var durations = lines.Where(l => l.StartsWith("site.gunicorn.request.duration:", StringComparison.Ordinal)).ToList();
        Assert.Equal(100, durations.Count);
        Assert.All(durations, d => Assert.Matches(@"^site\.gunicorn\.request\.duration:\d+(\.\d+)?\|ms\|#env:test$", d));
        Assert.Contains("site.gunicorn.workers:2|g|#env:test", lines);
        stop.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => receiving);
    }

    [Fact]
    public async Task DeadStatsd_OneWarning_AndEveryRequestServed()
    {
        int port;
        using (var probe = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0)))
        {
            port = ((IPEndPoint)probe.Client.LocalEndPoint!).Port; // closed again: nothing listens there
        }
        await using var server = await GunicornServer.StartAsync(["--statsd-host", $"127.0.0.1:{port}", "@echo"]);
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/pid")).StatusCode);
        }
        await server.WaitForLogAsync("Error sending message to statsd", Deadline);
        Assert.Single(server.Log.Split('\n'), l => l.Contains("Error sending message to statsd"));

        await using var unresolvable = await GunicornServer.StartAsync(["--statsd-host", "statsd.invalid:8125", "@echo"]);
        Assert.Equal(HttpStatusCode.OK, (await unresolvable.Client.GetAsync("/pid")).StatusCode);
        Assert.Contains("StatsD at statsd.invalid:8125 cannot be reached", unresolvable.Log);
    }
}
