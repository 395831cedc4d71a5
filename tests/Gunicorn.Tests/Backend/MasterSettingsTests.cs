using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Backend;

/// <summary>syslog, the backlog metric, forwarder_headers, stdio inheritance, and what HUP re-applies in the master.</summary>
public class MasterSettingsTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Syslog_GetsTheErrorLogOfMasterAndWorkers_AndTheAccessLog()
    {
        using var syslog = new DatagramListener();
        await using (var server = await GunicornServer.StartAsync(
            ["-w", "1", "--log-level", "debug", "--log-syslog", "--log-syslog-to", $"udp://127.0.0.1:{syslog.Port}",
             "--log-syslog-prefix", "site", "--log-syslog-facility", "local0", "@echo"]))
        {
            Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/sleep?seconds=0")).StatusCode);
            var worker = server.WorkerPids().Single();
            // local0 (16) x 8 + info (6) = 134; debug (7) = 135.
            await Eventually.True(() => syslog.Lines.Any(l => l.StartsWith("<134>gunicorn.site.error: [", StringComparison.Ordinal)
                && l.Contains($"[{server.Pid}] [INFO] Booting worker with pid: {worker}")), Deadline, "the master's line");
            await Eventually.True(() => syslog.Lines.Any(l => l.StartsWith("<135>gunicorn.site.error:", StringComparison.Ordinal)
                && l.Contains($"[{worker}] [DEBUG] Sleeping 0 s")), Deadline, "the worker's line");
            await Eventually.True(() => syslog.Lines.Any(l => l.StartsWith("<134>gunicorn.site.access: 127.0.0.1 - - [", StringComparison.Ordinal)
                && l.Contains("\"GET /sleep?seconds=0 HTTP/1.1\" 200")), Deadline, "the access line");
            Assert.All(syslog.Lines, l => Assert.EndsWith("\0", l));
        }

        using var quiet = new DatagramListener();
        await using var noAccess = await GunicornServer.StartAsync(
            ["-w", "1", "--log-syslog", "--log-syslog-to", $"udp://127.0.0.1:{quiet.Port}", "--disable-redirect-access-to-syslog", "@echo"]);
        Assert.Equal(HttpStatusCode.OK, (await noAccess.Client.GetAsync("/pid")).StatusCode);
        await Eventually.True(() => quiet.Lines.Any(l => l.Contains("All 1 workers ready")), Deadline, "the error log in syslog");
        // The access line would be written right after the response; the error log's next line proves it had its chance.
        noAccess.Signal(Signals.TTIN);
        await Eventually.True(() => quiet.Lines.Count(l => l.Contains("Booting worker")) == 2, Deadline, "a later error-log line");
        Assert.DoesNotContain(quiet.Lines, l => l.Contains(".access:"));
    }

    [Fact]
    public async Task BacklogMetric_SendsGunicornsGauge()
    {
        using var statsd = new DatagramListener();
        await using var server = await GunicornServer.StartAsync(
            ["-w", "1", "--statsd-host", $"127.0.0.1:{statsd.Port}", "--enable-backlog-metric", "@echo"]);
        await Eventually.True(() => statsd.Lines.Any(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^gunicorn\.backlog:\d+\|g$")),
            Deadline, "a gunicorn.backlog gauge");
    }

    [Fact]
    public async Task WorkersCountTheirOwnLogLines_InStatsd()
    {
        using var statsd = new DatagramListener();
        await using var server = await GunicornServer.StartAsync(
            ["-w", "1", "--python", "/usr/bin/python3", "--chdir", RepoPaths.Combine("tests", "apps"),
             "--statsd-host", $"127.0.0.1:{statsd.Port}", "wsgi_conformance:raising"]);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.InternalServerError, (await server.Client.GetAsync("/fail")).StatusCode);
        }
        // The worker's "Error handling request" lines, one counter each, as a gunicorn worker sends them.
        await Eventually.True(() => statsd.Lines.Count(l => l == "gunicorn.log.error:1|c|@1.0") == 3, Deadline, "three error counters");
    }

    [Fact]
    public async Task ForwarderHeaders_SetScriptNameFromTrustedProxiesOnly()
    {
        var apps = RepoPaths.Combine("tests", "apps");
        string[] app = ["-w", "1", "--python", "/usr/bin/python3", "--chdir", apps];
        async Task<JsonElement> Seen(GunicornServer server)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, "/app/items/7");
            request.Headers.TryAddWithoutValidation("SCRIPT_NAME", "/app");
            var response = await server.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        }

        await using (var trusted = await GunicornServer.StartAsync([.. app, "wsgi_conformance:validated"]))
        {
            var seen = await Seen(trusted);
            Assert.Equal("/app", seen.GetProperty("script_name").GetString());
            Assert.Equal("/items/7", seen.GetProperty("path").GetString());
        }
        await using var untrusted = await GunicornServer.StartAsync([.. app, "--forwarded-allow-ips", "10.9.9.9", "wsgi_conformance:validated"]);
        var ignored = await Seen(untrusted);
        Assert.Equal("", ignored.GetProperty("script_name").GetString());
        Assert.Equal("/app/items/7", ignored.GetProperty("path").GetString());
    }

    [Fact]
    public async Task Hup_ReappliesTheErrorLogAndItsLevel()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-hup-log-").FullName;
        var config = Path.Combine(dir, "gunicorn.yaml");
        var log = Path.Combine(dir, "error.log");
        File.WriteAllText(config, "workers: 1\nloglevel: info\n");
        await using var server = await GunicornServer.StartAsync(["@echo"], dir);
        File.WriteAllText(config, $"workers: 1\nloglevel: debug\nerrorlog: {log}\n");
        server.Signal(Signals.HUP);
        await Eventually.True(() => File.Exists(log) && File.ReadAllText(log).Contains("Reload complete"), Deadline, "the reload, logged to the new errorlog");
        // A master line at debug, after the switch: the master took the new level too.
        server.Signal(Signals.TTIN);
        await Eventually.True(() => File.ReadAllText(log).Contains($"[{server.Pid}] [DEBUG] Worker ready (pid:"), Deadline, "the master's debug line");
        Assert.DoesNotContain(server.Log.Split('\n'), l => l.Contains($"[{server.Pid}] [DEBUG]"));
    }

    [SkippableFact]
    public async Task Backlog_IsTheListenersQueue_AndHupResizesIt()
    {
        Skip.IfNot(File.Exists("/usr/bin/ss"), "ss (iproute2) is not installed.");
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-hup-backlog-").FullName;
        var config = Path.Combine(dir, "gunicorn.yaml");
        File.WriteAllText(config, "workers: 1\nbacklog: 64\n");
        await using var server = await GunicornServer.StartAsync(["@echo"], dir);
        Assert.Equal(64, await ListenBacklogAsync(server.BaseAddress.Port));

        File.WriteAllText(config, "workers: 1\nbacklog: 200\n");
        server.Signal(Signals.HUP);
        await server.WaitForLogAsync("Reload complete", Deadline);
        Assert.Equal(200, await ListenBacklogAsync(server.BaseAddress.Port));
    }

    /// <summary>A listening TCP socket's backlog, as ss shows it (Send-Q of a LISTEN socket).</summary>
    private static async Task<int> ListenBacklogAsync(int port)
    {
        var ss = await ExternalTool.RunAsync("/usr/bin/ss", ["-ltnH", $"sport = :{port}"], Deadline);
        var columns = ss.Output.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(columns.Length >= 3 && columns[0] == "LISTEN", ss.Output);
        return int.Parse(columns[2]);
    }

    [Fact]
    public async Task StdioInheritance_KeepsTheDaemonsStderr()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-daemon-stdio-").FullName;
        var pidFile = Path.Combine(dir, "d.pid");
        var stderr = Path.Combine(dir, "stderr.txt");
        var launch = await ExternalTool.RunAsync("/bin/sh",
            ["-c", $"cd '{dir}' && exec '{Binary.Path}' -D -R -p '{pidFile}' -w 1 -b 127.0.0.1:0 @echo >/dev/null 2>'{stderr}'"], Deadline);
        Assert.Equal(0, launch.ExitCode);
        var pid = int.Parse(await Eventually.Get(
            () => Task.FromResult(File.Exists(pidFile) && File.ReadAllText(pidFile).Trim() is { Length: > 0 } text ? text : null),
            Deadline, "the pidfile"));
        try
        {
            await Eventually.True(() => File.ReadAllText(stderr).Contains($"[{pid}] [INFO] All 1 workers ready"), Deadline,
                "the daemon's error log on the inherited stderr");
        }
        finally
        {
            Signals.Send(pid, Signals.TERM);
        }
        await Eventually.True(() => !ProcessTree.IsAlive(pid), Deadline, "the daemon to stop");
    }

    /// <summary>A UDP listener on loopback that keeps every datagram as a line (syslog, StatsD).</summary>
    private sealed class DatagramListener : IDisposable
    {
        private readonly UdpClient _client = new(new IPEndPoint(IPAddress.Loopback, 0));
        private readonly ConcurrentQueue<string> _lines = new();
        private readonly CancellationTokenSource _stop = new();

        public DatagramListener()
        {
            Port = ((IPEndPoint)_client.Client.LocalEndPoint!).Port;
            _ = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    try
                    {
                        var datagram = await _client.ReceiveAsync(_stop.Token);
                        foreach (var line in Encoding.UTF8.GetString(datagram.Buffer).Split('\n', StringSplitOptions.RemoveEmptyEntries))
                        {
                            _lines.Enqueue(line);
                        }
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
            });
        }

        public int Port { get; }

        public IReadOnlyList<string> Lines => [.. _lines];

        public void Dispose()
        {
            _stop.Cancel();
            _client.Dispose();
        }
    }
}
