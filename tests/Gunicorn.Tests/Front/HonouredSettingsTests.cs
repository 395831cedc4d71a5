using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Gunicorn.Front.Forwarding;
using Gunicorn.Tests.Conformance;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Front;

/// <summary>gunicorn settings that were accepted and ignored, or meant something else, now doing what gunicorn's do.</summary>
public class HonouredSettingsTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task LimitRequestLineZero_IsUnlimited_AsInGunicorn()
    {
        var target = "/pid?" + new string('a', 10_000);
        await using (var unlimited = await GunicornServer.StartAsync(["-w", "1", "--limit-request-line", "0", "@echo"]))
        {
            Assert.Equal(HttpStatusCode.OK, (await unlimited.Client.GetAsync(target)).StatusCode);
        }
        await using var bounded = await GunicornServer.StartAsync(["-w", "1", "@echo"]);
        Assert.Equal(HttpStatusCode.RequestUriTooLong, (await bounded.Client.GetAsync(target)).StatusCode);
    }

    /// <summary>
    /// Header limits whose product exceeds Kestrel's default read buffer (1 MiB) used to stop the front from starting
    /// ("Maximum request buffer size must be greater than or equal to maximum request header size").
    /// </summary>
    [Theory]
    [InlineData("128", "8190")]
    [InlineData("0", "8190")]
    [InlineData("100", "32768")]
    public async Task LargeHeaderLimits_Start_AndAreEnforced(string fields, string fieldSize)
    {
        await using var server = await GunicornServer.StartAsync(
            ["-w", "1", "--limit-request-fields", fields, "--limit-request-field_size", fieldSize, "@echo"]);
        var allowed = fields == "0" ? 32768 : int.Parse(fields);
        var within = new HttpRequestMessage(HttpMethod.Get, "/pid");
        for (var i = 0; i < 90; i++)
        {
            within.Headers.Add($"X-Field-{i}", new string('v', 1000));
        }
        Assert.Equal(HttpStatusCode.OK, (await server.Client.SendAsync(within)).StatusCode);
        if (allowed < 32768)
        {
            var over = new HttpRequestMessage(HttpMethod.Get, "/pid");
            for (var i = 0; i < allowed + 1; i++)
            {
                over.Headers.Add($"X-Field-{i}", "v");
            }
            Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, (await server.Client.SendAsync(over)).StatusCode);
        }
    }

    [Fact]
    public void TimeoutZero_LeavesTheFrontsActivityTimeoutUnbounded()
    {
        Assert.Equal(Timeout.InfiniteTimeSpan, ForwardingHandler.ActivityTimeoutFor(0));
        Assert.Equal(TimeSpan.FromSeconds(60), ForwardingHandler.ActivityTimeoutFor(30));
        Assert.Equal(TimeSpan.FromSeconds(240), ForwardingHandler.ActivityTimeoutFor(120));
    }

    [Fact]
    public void TimeoutZero_LetsQueuedRequestsWaitAsLongAsItTakes()
    {
        Assert.Equal(Timeout.InfiniteTimeSpan, ForwardingHandler.QueueWaitFor(0));
        Assert.Equal(TimeSpan.FromSeconds(30), ForwardingHandler.QueueWaitFor(30));
        Assert.Equal(TimeSpan.FromSeconds(120), ForwardingHandler.QueueWaitFor(120));
    }

    [Fact]
    public async Task CasefoldHttpMethod_UppercasesLowercaseMethods()
    {
        var request = Encoding.ASCII.GetBytes("get /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        await using (var folding = await GunicornServer.StartAsync(["-w", "1", "--casefold-http-method", "@echo"]))
        {
            var (responses, _) = await RawHttp.ExchangeAsync(folding.BaseAddress, request, 1, Deadline);
            Assert.Equal(200, responses.Single().Status);
        }
        await using var strict = await GunicornServer.StartAsync(["-w", "1", "@echo"]);
        var (refused, _) = await RawHttp.ExchangeAsync(strict.BaseAddress, request, 1, Deadline);
        Assert.Equal(400, refused.Single().Status);
    }

    [Fact]
    public async Task AccessLogEnvironAtoms_ReadTheRequestsHeaders()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-atoms-").FullName;
        var log = Path.Combine(dir, "access.log");
        await using var server = await GunicornServer.StartAsync(
            ["-w", "1", "--access-logfile", log, "--access-logformat", "%(m)s %({HTTP_X_REAL_IP}e)s %({HTTP_X_MISSING}e)s %({SERVER_NAME}e)s", "@echo"], dir);
        var request = new HttpRequestMessage(HttpMethod.Get, "/pid");
        request.Headers.Add("X-Real-IP", "203.0.113.7");
        Assert.Equal(HttpStatusCode.OK, (await server.Client.SendAsync(request)).StatusCode);
        await Eventually.True(() => File.Exists(log) && File.ReadAllText(log).Contains("GET 203.0.113.7 - 127.0.0.1"), Deadline,
            "the access line with the header's value");
    }

    [Fact]
    public async Task CheckConfig_ImportsTheApp_AndFailsWhenItCannot()
    {
        var apps = RepoPaths.Combine("tests", "apps");
        var good = await Binary.RunAsync(["--check-config", "--python", "/usr/bin/python3", "--chdir", apps, "wsgi_conformance:validated"]);
        Assert.True(good.ExitCode == 0, good.Stdout + good.Stderr);
        Assert.Contains("Config OK", good.Stdout);

        var missing = await Binary.RunAsync(["--check-config", "--python", "/usr/bin/python3", "--chdir", apps, "no_such_module:app"]);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("App failed to load: no_such_module:app cannot be imported: ModuleNotFoundError", missing.Stderr);

        var notCallable = await Binary.RunAsync(["--check-config", "--python", "/usr/bin/python3", "--chdir", apps, "wsgi_conformance:json"]);
        Assert.Equal(1, notCallable.ExitCode);
        Assert.Contains("is not callable", notCallable.Stderr);
    }

    [Fact]
    public async Task ControlSocket_ModeAndDisable()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-ctl-mode-").FullName;
        await using (var shared = await GunicornServer.StartAsync(["-w", "1", "--control-socket-mode", "0660", "@echo"], dir))
        {
            var mode = File.GetUnixFileMode(Path.Combine(dir, "gunicorn-net.ctl"));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite, mode);
        }
        var quiet = Directory.CreateTempSubdirectory("gunicorn-net-ctl-off-").FullName;
        File.WriteAllText(Path.Combine(quiet, "gunicorn.yaml"), "control_socket_disable: true\nworkers: 1\n");
        await using var server = await GunicornServer.StartAsync(["@echo"], quiet);
        Assert.False(File.Exists(Path.Combine(quiet, "gunicorn-net.ctl")));
        var status = await Binary.RunAsync(["ctl", "status"], quiet);
        Assert.Equal(1, status.ExitCode);
        Assert.Contains("control socket is disabled", status.Stderr);
    }

    [Fact]
    public async Task ReusePort_LetsTwoMastersShareOnePort()
    {
        await using var first = await GunicornServer.StartAsync(["-w", "1", "--reuse-port", "@echo"]);
        var port = first.BaseAddress.Port;
        await using var second = await GunicornServer.StartAsync(["-w", "1", "--reuse-port", "-b", $"127.0.0.1:{port}", "@echo"]);
        Assert.Equal(port, second.BaseAddress.Port);
        // Without it the same bind is refused (exit 1).
        var refused = await Binary.RunAsync(["-w", "1", "-b", $"127.0.0.1:{port}", "@echo"], deadline: Deadline);
        Assert.Equal(1, refused.ExitCode);
    }

    [Fact]
    public async Task TmpUploadDir_IsWhereLargeBodiesSpill()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-upload-dir-").FullName;
        var spill = Path.Combine(dir, "spill");
        Directory.CreateDirectory(spill);
        File.WriteAllText(Path.Combine(dir, "gunicorn.yaml"), $"workers: 1\nrequest_buffer_size: 1024\ntmp_upload_dir: {spill}\n");
        await using var server = await GunicornServer.StartAsync(["@echo"], dir);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.PostAsync("/echo", new ByteArrayContent(new byte[100_000]))).StatusCode);
        // A directory that cannot take the spill: the request is answered 507, naming the directory in the log.
        Directory.Delete(spill);
        Assert.Equal(HttpStatusCode.InsufficientStorage, (await server.Client.PostAsync("/echo", new ByteArrayContent(new byte[100_000]))).StatusCode);
        await server.WaitForLogAsync($"Cannot buffer the body of POST /echo in {System.Text.RegularExpressions.Regex.Escape(spill)}", Deadline);
    }

    [Fact]
    public async Task SslVersion_TlsV13_RefusesTls12Clients()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-ssl-version-").FullName;
        TlsTests.WriteSelfSignedPem(dir);
        await using var server = await GunicornServer.StartAsync(
            ["-b", "127.0.0.1:0", "--certfile", "cert.pem", "--keyfile", "key.pem", "--ssl-version", "TLSv1_3", "@echo"], dir, waitForReady: false);
        var port = (await server.WaitForLogAsync(@"Listening at: https://127\.0\.0\.1:(\d+)", Deadline)).Groups[1].Value;
        await server.WaitForLogAsync(@"All \d+ workers ready", Deadline);
        using var tls13 = Client(SslProtocols.Tls13);
        Assert.Equal(HttpStatusCode.OK, (await tls13.GetAsync($"https://127.0.0.1:{port}/pid")).StatusCode);
        using var tls12 = Client(SslProtocols.Tls12);
        await Assert.ThrowsAsync<HttpRequestException>(() => tls12.GetAsync($"https://127.0.0.1:{port}/pid"));
    }

    [Fact]
    public async Task Http2Cleartext_PriorKnowledge_WithItsHeaderListLimit()
    {
        await using var server = await GunicornServer.StartAsync(
            ["-w", "1", "--http-protocols", "h1,h2", "--http2-cleartext", "prior-knowledge", "--http2-max-header-list-size", "2048", "@echo"],
            waitForReady: false);
        var port = (await server.WaitForLogAsync(@"Listening at: http://127\.0\.0\.1:(\d+)", Deadline)).Groups[1].Value;
        await server.WaitForLogAsync(@"All \d+ workers ready", Deadline);
        using var h2c = new HttpClient { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var small = await h2c.GetAsync($"http://127.0.0.1:{port}/pid");
        Assert.Equal(HttpStatusCode.OK, small.StatusCode);
        Assert.Equal(HttpVersion.Version20, small.Version);
        // curl (Debian's, installed by test.sh) sends the oversized block as it is; the front answers 431 over HTTP/2.
        var large = await ExternalTool.RunAsync("/usr/bin/curl", ["-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
            "-H", "X-Large: " + new string('x', 3000), $"http://127.0.0.1:{port}/pid"], Deadline);
        Assert.Equal("431 2", large.Output.Trim());

        var refused = await Binary.RunAsync(["--check-config", "--http2-cleartext", "prior-knowledge", "@echo"]);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("http_protocols does not include h2", refused.Stdout + refused.Stderr);
    }

    private static HttpClient Client(SslProtocols protocols) => new(new SocketsHttpHandler
    {
        SslOptions = { EnabledSslProtocols = protocols, RemoteCertificateValidationCallback = (_, _, _, _) => true },
    });
}
