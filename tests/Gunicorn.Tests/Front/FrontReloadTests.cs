using System.Net;
using System.Net.Sockets;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Front;

/// <summary>
/// HUP applies the front's settings too: binds are opened and closed without dropping the others, and limits,
/// static mappings and the access log format change, all under load with no failed request. A front setting that
/// cannot be applied fails the whole reload and leaves everything as it was.
/// </summary>
public class FrontReloadTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Hup_ChangesBindsLimitsStaticFilesAndLogFormat_UnderLoad_WithoutAFailedRequest()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-front-reload-").FullName;
        Directory.CreateDirectory(Path.Combine(dir, "assets"));
        File.WriteAllText(Path.Combine(dir, "assets", "site.css"), "body {}");
        var extra = Path.Combine(dir, "extra.sock");
        var config = Path.Combine(dir, "gunicorn.yaml");
        File.WriteAllText(config, "workers: 2\nwsgi_app: \"@echo\"\nbind: [\"127.0.0.1:0\"]\naccesslog: \"-\"\n" +
                                  "access_log_format: \"before %(U)s\"\n");
        await using var server = await GunicornServer.StartAsync([], dir, bindFromConfig: true);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/" + new string('a', 3000))).StatusCode);
        var load = ContinuousLoad.Start(server.Client);

        File.WriteAllText(config, "workers: 2\nwsgi_app: \"@echo\"\nbind: [\"127.0.0.1:0\", \"unix:" + extra + "\"]\n" +
                                  "accesslog: \"-\"\naccess_log_format: \"after %(U)s\"\nlimit_request_line: 1000\n" +
                                  "static:\n  /assets: assets\n");
        var from = server.LineCount;
        server.Signal(Signals.HUP);
        await server.WaitForLogAsync("Reload complete: generation 2 serving", Deadline, from);
        await server.WaitForLogAsync($"Listening at: http://unix:{extra}", Deadline, from);

        // New connections: a kept-alive one that was idle at the switch may still carry one request to the old
        // generation, which answers it (with Connection: close) as it was configured.
        using var fresh = new HttpClient { BaseAddress = server.BaseAddress };
        Assert.Equal("body {}", await fresh.GetStringAsync("/assets/site.css"));
        Assert.Equal(HttpStatusCode.RequestUriTooLong, (await fresh.GetAsync("/" + new string('a', 3000))).StatusCode);
        await fresh.GetAsync("/logged-after-reload");
        await server.WaitForLogAsync("^after /logged-after-reload$", Deadline, from);
        using (var unixClient = UnixHttpClient.For(extra))
        {
            Assert.Equal(HttpStatusCode.OK, (await unixClient.GetAsync("http://front/pid")).StatusCode);
        }

        // Dropping the Unix bind again closes it (and removes its file); the TCP bind never stops serving.
        File.WriteAllText(config, "workers: 2\nwsgi_app: \"@echo\"\nbind: [\"127.0.0.1:0\"]\n");
        from = server.LineCount;
        server.Signal(Signals.HUP);
        await server.WaitForLogAsync("Reload complete: generation 3 serving", Deadline, from);
        await Eventually.True(() => !File.Exists(extra), Deadline, "the dropped Unix socket to be closed and removed");
        Assert.Empty(await load.StopAsync());
        Assert.True(load.Requests > 0);
    }

    /// <summary>
    /// A keep-alive client that never retries (wrk, many load balancers): the replaced front generation must not close
    /// a connection under a request the client is sending; it answers with Connection: close and lets the client move.
    /// </summary>
    [Fact]
    public async Task Hup_LosesNoRequestOfKeepAliveClientsThatNeverRetry()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "2", "@echo"]);
        using var stop = new CancellationTokenSource();
        var answered = 0;
        var toldToClose = 0;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        async Task ClientAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                await socket.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
                while (!stop.IsCancellationRequested)
                {
                    await socket.SendAsync(System.Text.Encoding.ASCII.GetBytes("GET /pid HTTP/1.1\r\nHost: x\r\n\r\n"));
                    string head;
                    try
                    {
                        (head, _) = await OneResponse.ReadAsync(socket, Deadline);
                    }
                    catch (Exception e) when (e is EndOfStreamException or System.Net.Sockets.SocketException)
                    {
                        failures.Enqueue(e.Message);
                        break;
                    }
                    Interlocked.Increment(ref answered);
                    if (head.Contains("Connection: close", StringComparison.OrdinalIgnoreCase))
                    {
                        Interlocked.Increment(ref toldToClose);
                        break;
                    }
                }
            }
        }
        var clients = Enumerable.Range(0, 4).Select(_ => Task.Run(ClientAsync)).ToList();
        await Eventually.True(() => Volatile.Read(ref answered) > 100, Deadline, "load before the reload");
        var from = server.LineCount;
        server.Signal(Signals.HUP);
        await server.WaitForLogAsync("Reload complete", Deadline, from);
        // Every client was told to close by the old generation and carried on against the new one.
        await Eventually.True(() => Volatile.Read(ref toldToClose) >= 4, Deadline, "every client moved to the new generation");
        var afterMove = Volatile.Read(ref answered);
        await Eventually.True(() => Volatile.Read(ref answered) > afterMove + 100, Deadline, "load after the reload");
        stop.Cancel();
        await Task.WhenAll(clients);
        Assert.True(failures.IsEmpty, $"{failures.Count} requests lost: {string.Join("; ", failures)}\n{server.Log}");
    }

    [Fact]
    public async Task Hup_WithABindThatIsInUse_FailsTheReload_AndNothingChanges()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-front-reload-busy-").FullName;
        var config = Path.Combine(dir, "gunicorn.yaml");
        File.WriteAllText(config, "workers: 1\nwsgi_app: \"@echo\"\nbind: [\"127.0.0.1:0\"]\n");
        await using var server = await GunicornServer.StartAsync([], dir, bindFromConfig: true);
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        var busyPort = ((IPEndPoint)squatter.LocalEndpoint).Port;
        var load = ContinuousLoad.Start(server.Client);

        File.WriteAllText(config, $"workers: 1\nwsgi_app: \"@hello\"\nbind: [\"127.0.0.1:0\", \"127.0.0.1:{busyPort}\"]\n");
        var from = server.LineCount;
        server.Signal(Signals.HUP);
        await server.WaitForLogAsync(@"Reload failed: the front could not apply the new configuration \(.*\)\. Nothing changed", Deadline, from);
        Assert.Matches(@"^\d+$", await server.Client.GetStringAsync("/pid")); // still @echo: the workers did not change
        Assert.Empty(await load.StopAsync());
        var status = await server.Client.GetAsync("/pid");
        Assert.Equal(HttpStatusCode.OK, status.StatusCode);
    }
}
