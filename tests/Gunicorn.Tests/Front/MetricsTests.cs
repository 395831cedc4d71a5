using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Front;

/// <summary>metrics_bind: /metrics counts exactly what happened across workers and reloads; promtool accepts it.</summary>
public class MetricsTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ScriptedRun_IsCountedExactly_AndPromtoolAcceptsIt()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-metrics-").FullName;
        Directory.CreateDirectory(Path.Combine(dir, "public"));
        File.WriteAllText(Path.Combine(dir, "public", "a.txt"), "static file");
        await using var server = await GunicornServer.StartAsync(
            ["-w", "2", "--timeout", "3", "--request-queue-size", "0", "--metrics-bind", "127.0.0.1:0", "--static", "/static=public",
             "--log-level", "debug", "@echo"], dir);
        var metricsUrl = (await server.WaitForLogAsync(@"Serving metrics at: (http://127\.0\.0\.1:\d+/metrics)", Deadline)).Groups[1].Value;
        using var scraper = new HttpClient();

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync($"/pid?n={i}")).StatusCode);
        }
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/static/a.txt")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await server.Client.GetAsync($"/static/missing-{i}.txt")).StatusCode);
        }
        Assert.Equal(HttpStatusCode.OK, (await server.Client.PostAsync("/echo", new ByteArrayContent(new byte[1000]))).StatusCode);

        // Both workers busy and nothing may queue: one 503 from the front.
        int Sleeps() => Regex.Matches(server.Log, "Sleeping").Count;
        var busy = new[] { server.Client.GetAsync("/sleep?seconds=1.5"), server.Client.GetAsync("/sleep?seconds=1.5") };
        await Eventually.True(() => Sleeps() == 2, Deadline, "both workers to take a slow request");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await server.Client.GetAsync("/pid")).StatusCode);
        Assert.All(await Task.WhenAll(busy), r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));

        // A worker killed and replaced: one crash, one more spawn.
        var victim = server.WorkerPids()[0];
        var from = server.LineCount;
        Signals.Send(victim, Signals.KILL);
        await server.WaitForLogAsync($@"Worker \(pid:{victim}\) was sent SIGKILL", Deadline, from);
        await Eventually.True(() => server.WorkerPids().Count == 2 && !server.WorkerPids().Contains(victim), Deadline, "a replacement worker");

        // A stopped worker times out: its request gets the front's 504.
        await Eventually.True(async () => (await Scrape(scraper, metricsUrl)).GetValueOrDefault("gunicorn_workers{generation=\"1\",state=\"ready\"}") == 2,
            Deadline, "both workers ready");
        from = server.LineCount;
        var slow = server.Client.GetAsync("/sleep?seconds=30");
        var sleeper = int.Parse((await server.WaitForLogAsync(@"\[(\d+)\] \[DEBUG\] Sleeping 30 s", Deadline, from)).Groups[1].Value, CultureInfo.InvariantCulture);
        Signals.Send(sleeper, Signals.STOP);
        Assert.Equal(HttpStatusCode.GatewayTimeout, (await slow).StatusCode);
        await Eventually.True(() => server.WorkerPids().Count == 2 && !server.WorkerPids().Contains(sleeper), Deadline, "a replacement for the stopped worker");

        // A reload: a new generation of two.
        from = server.LineCount;
        server.Signal(Signals.HUP);
        await server.WaitForLogAsync("Reload complete", Deadline, from);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/pid")).StatusCode);

        Dictionary<string, double> metrics = [];
        await Eventually.True(async () =>
        {
            metrics = await Scrape(scraper, metricsUrl);
            return metrics.GetValueOrDefault("gunicorn_workers{generation=\"2\",state=\"ready\"}") == 2
                && !metrics.Keys.Any(k => k.StartsWith("gunicorn_workers{generation=\"1\"", StringComparison.Ordinal));
        }, Deadline, "generation 2 alone");

        Assert.Equal(20 + 1 + 2 + 1, metrics["gunicorn_requests_total{method=\"GET\",status_class=\"2xx\",route=\"app\"}"] + metrics["gunicorn_requests_total{method=\"POST\",status_class=\"2xx\",route=\"app\"}"]);
        Assert.Equal(1, metrics["gunicorn_requests_total{method=\"POST\",status_class=\"2xx\",route=\"app\"}"]);
        Assert.Equal(3, metrics["gunicorn_requests_total{method=\"GET\",status_class=\"2xx\",route=\"static\"}"]);
        Assert.Equal(3, metrics["gunicorn_requests_total{method=\"GET\",status_class=\"4xx\",route=\"static\"}"]);
        Assert.Equal(2, metrics["gunicorn_requests_total{method=\"GET\",status_class=\"5xx\",route=\"app\"}"]);
        Assert.Equal(1, metrics["gunicorn_front_errors_total{status=\"503\"}"]);
        Assert.Equal(1, metrics["gunicorn_front_errors_total{status=\"504\"}"]);
        Assert.Equal(0, metrics["gunicorn_front_errors_total{status=\"502\"}"]);
        Assert.Equal(20 + 1 + 2 + 1 + 3 + 3 + 2, metrics["gunicorn_request_duration_seconds_count{route=\"app\"}"] + metrics["gunicorn_request_duration_seconds_count{route=\"static\"}"]);
        Assert.True(metrics["gunicorn_request_body_bytes_total"] >= 1000);
        Assert.True(metrics["gunicorn_response_body_bytes_total"] >= 3 * "static file".Length);
        Assert.Equal(0, metrics["gunicorn_requests_in_flight"]);
        Assert.Equal(0, metrics["gunicorn_request_queue_depth"]);
        Assert.Equal(2 + 1 + 1 + 2, metrics["gunicorn_worker_spawns_total"]);
        Assert.Equal(1, metrics["gunicorn_worker_crashes_total"]);
        Assert.Equal(1, metrics["gunicorn_worker_timeouts_total"]);
        Assert.Equal(1, metrics["gunicorn_reloads_total"]);
        Assert.Equal(0, metrics["gunicorn_reload_failures_total"]);
        Assert.Equal(2, metrics["gunicorn_serving_generation"]);
        var memory = metrics.Where(m => m.Key.StartsWith("gunicorn_worker_resident_memory_bytes{", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, memory.Count);
        Assert.All(memory, m => Assert.InRange(m.Value, 1 << 20, 4L << 30));
        Assert.All(server.WorkerPids(), pid => Assert.Contains($"gunicorn_worker_cpu_seconds_total{{pid=\"{pid}\",generation=\"2\"}}", metrics.Keys));

        var text = await scraper.GetStringAsync(metricsUrl);
        await PromtoolAccepts(text, dir);
        Assert.Equal(HttpStatusCode.NotFound, (await scraper.GetAsync(metricsUrl.Replace("/metrics", "/other"))).StatusCode);
    }

    [Fact]
    public async Task MetricsBindInUse_StopsTheStart_AndFailsAReloadThatKeepsTheOldOne()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var takenPort = ((IPEndPoint)taken.LocalEndpoint).Port;

        var start = await Binary.RunAsync(["--metrics-bind", $"127.0.0.1:{takenPort}", "-b", "127.0.0.1:0", "@echo"], deadline: Deadline);
        Assert.Equal(1, start.ExitCode);
        Assert.Contains($"metrics_bind 127.0.0.1:{takenPort} cannot be opened", start.Stdout + start.Stderr);

        var dir = Directory.CreateTempSubdirectory("gunicorn-net-metrics-reload-").FullName;
        var socket = Path.Combine(dir, "metrics.sock");
        var config = Path.Combine(dir, "gunicorn.yaml");
        File.WriteAllText(config, $"workers: 1\nmetrics_bind: unix:{socket}\n");
        await using var server = await GunicornServer.StartAsync(["-c", "gunicorn.yaml", "@echo"], dir);
        using var overUnix = UnixClient(socket);
        Assert.Contains("gunicorn_worker_spawns_total 1", await overUnix.GetStringAsync("http://localhost/metrics"));

        File.WriteAllText(config, $"workers: 1\nmetrics_bind: 127.0.0.1:{takenPort}\n");
        var from = server.LineCount;
        server.Signal(Signals.HUP);
        await server.WaitForLogAsync($@"Reload failed: .*metrics_bind 127\.0\.0\.1:{takenPort} cannot be opened", Deadline, from);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/pid")).StatusCode);
        var after = await overUnix.GetStringAsync("http://localhost/metrics");
        Assert.Contains("gunicorn_reload_failures_total 1", after);
        Assert.Contains("gunicorn_serving_generation 1", after);
    }

    [Fact]
    public async Task TlsHandshakes_AreCountedByResult()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-metrics-tls-").FullName;
        TlsTests.WriteSelfSignedPem(dir);
        await using var server = await GunicornServer.StartAsync(
            ["-b", "127.0.0.1:0", "--certfile", "cert.pem", "--keyfile", "key.pem", "--metrics-bind", "127.0.0.1:0", "@echo"], dir, waitForReady: false);
        var port = int.Parse((await server.WaitForLogAsync(@"Listening at: https://127\.0\.0\.1:(\d+)", Deadline)).Groups[1].Value, CultureInfo.InvariantCulture);
        var metricsUrl = (await server.WaitForLogAsync(@"Serving metrics at: (http://127\.0\.0\.1:\d+/metrics)", Deadline)).Groups[1].Value;
        await server.WaitForLogAsync(@"All \d+ workers ready", Deadline);

        using var https = new HttpClient(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true } });
        Assert.Equal(HttpStatusCode.OK, (await https.GetAsync($"https://127.0.0.1:{port}/pid")).StatusCode);
        using (var plaintext = new TcpClient())
        {
            await plaintext.ConnectAsync(IPAddress.Loopback, port);
            await plaintext.GetStream().WriteAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
            var buffer = new byte[256];
            while (await plaintext.GetStream().ReadAsync(buffer) > 0)
            {
                // Until the server closes the connection it could not make TLS of.
            }
        }
        using var scraper = new HttpClient();
        await Eventually.True(async () =>
        {
            var metrics = await Scrape(scraper, metricsUrl);
            return metrics.GetValueOrDefault("gunicorn_tls_handshakes_total{result=\"ok\"}") == 1
                && metrics.GetValueOrDefault("gunicorn_tls_handshakes_total{result=\"failed\"}") == 1;
        }, Deadline, "one handshake of each kind");
    }

    /// <summary>Sample lines as <c>name{labels}</c> to value.</summary>
    private static async Task<Dictionary<string, double>> Scrape(HttpClient client, string url)
    {
        var text = await client.GetStringAsync(url);
        return text.Split('\n')
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .Select(line => (Key: line[..line.LastIndexOf(' ')], Value: double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture)))
            .ToDictionary(s => s.Key, s => s.Value);
    }

    private static async Task PromtoolAccepts(string exposition, string dir)
    {
        Assert.True(ExternalTool.IsInstalled("/usr/bin/promtool"), "promtool (Debian's prometheus package) is installed by test.sh.");
        var file = Path.Combine(dir, "metrics.txt");
        await File.WriteAllTextAsync(file, exposition);
        var result = await ExternalTool.RunAsync("/bin/sh", ["-c", $"/usr/bin/promtool check metrics < '{file}'"], Deadline);
        Assert.True(result.ExitCode == 0, $"promtool check metrics:\n{result.Output}\n{exposition}");
    }

    private static HttpClient UnixClient(string path) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, cancel) =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancel);
            return new NetworkStream(socket, ownsSocket: true);
        },
    });
}
