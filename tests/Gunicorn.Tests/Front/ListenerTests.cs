using System.Net;
using System.Net.Sockets;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Front;

/// <summary>bind forms and systemd socket activation.</summary>
public class ListenerTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [SkippableFact]
    public async Task SystemdSocketActivation_ServesOnTheInheritedSocket_AndIgnoresBind()
    {
        const string Activate = "/usr/bin/systemd-socket-activate";
        Skip.IfNot(File.Exists(Activate), "systemd-socket-activate is not installed.");
        var port = FreePorts.Next();
        await using var server = await GunicornServer.StartAsync(["-b", "127.0.0.1:1", "@echo"], waitForReady: false,
            launcher: [Activate, "-l", $"127.0.0.1:{port}"]);
        await server.WaitForLogAsync($@"Listening on 127\.0\.0\.1:{port} as 3", Deadline);
        // systemd-socket-activate starts the service on the first connection, which then waits in the backlog.
        using var client = new HttpClient { Timeout = Deadline };
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"http://127.0.0.1:{port}/pid")).StatusCode);
        await server.WaitForLogAsync(@"Using 1 socket\(s\) from systemd \(LISTEN_FDS\); bind is ignored", Deadline);
        await server.WaitForLogAsync($@"Listening at: http://127\.0\.0\.1:{port} ", Deadline);
        Assert.Equal("", await client.GetStringAsync($"http://127.0.0.1:{port}/env?name=LISTEN_FDS"));
    }

    [Fact]
    public async Task UnixSocketAndIpv6Binds_BothServe()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-bind-").FullName;
        var socket = Path.Combine(dir, "front.sock");
        await using var server = await GunicornServer.StartAsync(["-b", $"unix:{socket}", "-b", "127.0.0.1:0", "-b", "[::1]:0", "@echo"]);
        await server.WaitForLogAsync(@"Listening at: http://\[::1\]:\d+", Deadline);
        var ipv6 = System.Text.RegularExpressions.Regex.Match(server.Log, @"Listening at: (http://\[::1\]:\d+)").Groups[1].Value;
        using var client = new HttpClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"{ipv6}/pid")).StatusCode);

        using var unixClient = UnixHttpClient.For(socket);
        Assert.Equal(HttpStatusCode.OK, (await unixClient.GetAsync("http://front/pid")).StatusCode);
    }

    /// <summary>systemd-socket-activate needs a fixed port: ask the kernel for a free one.</summary>
    [Theory]
    [InlineData(0, 1, true)]
    [InlineData(2, 2, false)]
    public async Task KeepAlive_ZeroClosesAfterEachResponse_OtherwiseTheConnectionServesTheNextRequest(int keepAlive, int responses, bool closed)
    {
        await using var server = await GunicornServer.StartAsync(["-w", "1", "--keep-alive", keepAlive.ToString(), "@echo"]);
        var twoRequests = "GET /pid HTTP/1.1\r\nHost: x\r\n\r\nGET /pid HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray();

        var (received, wasClosed) = await Gunicorn.Tests.Conformance.RawHttp.ExchangeAsync(server.BaseAddress, twoRequests, 2, TimeSpan.FromSeconds(5));

        Assert.Equal(responses, received.Count);
        Assert.All(received, r => Assert.Equal(200, r.Status));
        if (closed)
        {
            Assert.True(wasClosed, "keepalive 0 must close the connection after the response");
        }
    }

    [Fact]
    public async Task TheFrontReadsNothingFromTheDirectoryItStartsIn()
    {
        // An ASP.NET Core app's appsettings.json where gunicorn-net is started (its publish directory, typically):
        // its Kestrel endpoints are the app's, and no file watcher may cover the directory's tree.
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-cwd-").FullName;
        var appsPort = FreePorts.Next();
        File.WriteAllText(Path.Combine(dir, "appsettings.json"),
            """{"Kestrel":{"Endpoints":{"Http":{"Url":"http://127.0.0.1:""" + appsPort + "\"}}}}");
        await using var server = await GunicornServer.StartAsync(["-w", "1", "--metrics-bind", "127.0.0.1:0", "@echo"], dir);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/pid")).StatusCode);
        Assert.False(await FreePorts.IsListening(appsPort), "the front bound the endpoint of an appsettings.json it should not read");
        var inotify = Directory.EnumerateFileSystemEntries($"/proc/{server.Pid}/fd")
            .Count(fd => new FileInfo(fd).LinkTarget == "anon_inode:inotify");
        Assert.Equal(0, inotify);
    }
}
