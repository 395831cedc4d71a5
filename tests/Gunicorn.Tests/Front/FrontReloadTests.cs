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

        Assert.Equal("body {}", await server.Client.GetStringAsync("/assets/site.css"));
        Assert.Equal(HttpStatusCode.RequestUriTooLong, (await server.Client.GetAsync("/" + new string('a', 3000))).StatusCode);
        await server.Client.GetAsync("/logged-after-reload");
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
