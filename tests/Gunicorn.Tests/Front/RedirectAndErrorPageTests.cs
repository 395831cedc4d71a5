using System.Net;
using System.Net.Sockets;
using System.Text;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Front;

/// <summary>nginx's HTTP-to-HTTPS redirect server, HSTS, and error_page for the errors the front produces.</summary>
public class RedirectAndErrorPageTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task PlaintextListener_RedirectsToHttps_AndTlsResponsesCarryHsts()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-redirect-").FullName;
        TlsTests.WriteSelfSignedPem(dir);
        Directory.CreateDirectory(Path.Combine(dir, "acme"));
        File.WriteAllText(Path.Combine(dir, "acme", "token-1"), "challenge answer");
        File.WriteAllText(Path.Combine(dir, "gunicorn.yaml"), """
            certfile: cert.pem
            keyfile: key.pem
            https_redirect_bind: 127.0.0.2:0 # port 0 on an address of its own: two 127.0.0.1:0 are one bind
            https_redirect_status: 308
            hsts_max_age: 8760h
            hsts_include_subdomains: true
            health_path: /healthz
            static:
              /.well-known/acme-challenge: acme
            """);
        await using var server = await GunicornServer.StartAsync(["-c", "gunicorn.yaml", "@echo"], dir, waitForReady: false);
        var httpsPort = (await server.WaitForLogAsync(@"Listening at: https://127\.0\.0\.1:(\d+)", Deadline)).Groups[1].Value;
        var redirectPort = (await server.WaitForLogAsync(@"Listening at: http://127\.0\.0\.2:(\d+) \(redirects to HTTPS\)", Deadline)).Groups[1].Value;
        await server.WaitForLogAsync(@"All \d+ workers ready", Deadline);

        using var plain = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false });
        var redirected = await plain.GetAsync($"http://127.0.0.2:{redirectPort}/some/path?q=a%20b&x=1");
        Assert.Equal(HttpStatusCode.PermanentRedirect, redirected.StatusCode);
        Assert.Equal($"https://127.0.0.2:{httpsPort}/some/path?q=a%20b&x=1", redirected.Headers.Location?.OriginalString);
        Assert.False(redirected.Headers.Contains("Strict-Transport-Security"), "HSTS must never be sent over plain HTTP");

        var named = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.2:{redirectPort}/form") { Content = new StringContent("a=1") };
        named.Headers.Host = "www.example.test";
        Assert.Equal($"https://www.example.test:{httpsPort}/form", (await plain.SendAsync(named)).Headers.Location?.OriginalString);

        // Certificate renewal and health checks still work on the plaintext listener.
        Assert.Equal("challenge answer", await plain.GetStringAsync($"http://127.0.0.2:{redirectPort}/.well-known/acme-challenge/token-1"));
        Assert.Equal(HttpStatusCode.OK, (await plain.GetAsync($"http://127.0.0.2:{redirectPort}/healthz")).StatusCode);

        using var tls = new HttpClient(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true } });
        var secure = await tls.GetAsync($"https://127.0.0.1:{httpsPort}/pid");
        Assert.Equal(HttpStatusCode.OK, secure.StatusCode);
        Assert.Equal("max-age=31536000; includeSubDomains", string.Join(",", secure.Headers.GetValues("Strict-Transport-Security")));
    }

    [Fact]
    public async Task HttpsRedirect_WithoutTls_IsRefusedAtConfigTime()
    {
        var result = await Binary.RunAsync(["--check-config", "--https-redirect-bind", "127.0.0.1:8080", "@echo"]);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("https_redirect_bind", result.Stdout + result.Stderr);
        Assert.Contains("certfile is not set", result.Stdout + result.Stderr);
    }

    [Fact]
    public async Task FrontErrors_AreServedFromTheOperatorsPages()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-error-pages-").FullName;
        Directory.CreateDirectory(Path.Combine(dir, "errors"));
        foreach (var status in new[] { 413, 502, 503, 504 })
        {
            File.WriteAllText(Path.Combine(dir, "errors", $"{status}.html"), $"<h1>custom {status}</h1>");
        }
        File.WriteAllText(Path.Combine(dir, "gunicorn.yaml"), """
            workers: 1
            loglevel: debug
            timeout: 2
            request_queue_size: 0
            client_max_body_size: 100
            error_page:
              413: errors/413.html
              502: errors/502.html
              503: errors/503.html
              504: errors/504.html
            """);
        await using var server = await GunicornServer.StartAsync(["-c", "gunicorn.yaml", "@echo"], dir);
        var client = server.Client;

        var tooLarge = await client.PostAsync("/upload", new ByteArrayContent(new byte[1000]));
        await AssertPage(tooLarge, HttpStatusCode.RequestEntityTooLarge, 413);

        // The only worker is busy and nothing may queue: 503, with Retry-After.
        int Sleeps() => System.Text.RegularExpressions.Regex.Matches(server.Log, "Sleeping").Count;
        var busy = client.GetAsync("/sleep?seconds=1.5");
        await Eventually.True(() => Sleeps() == 1, Deadline, "the worker to take the slow request");
        var unavailable = await client.GetAsync("/pid");
        await AssertPage(unavailable, HttpStatusCode.ServiceUnavailable, 503);
        Assert.Equal("1", unavailable.Headers.GetValues("Retry-After").Single());
        Assert.Equal(HttpStatusCode.OK, (await busy).StatusCode);

        // A worker stuck past timeout is killed: 504.
        var stuck = await client.PostAsync("/sleep?seconds=30", new StringContent(""));
        await AssertPage(stuck, HttpStatusCode.GatewayTimeout, 504);

        // A worker killed while answering a POST (never retried): 502.
        await Eventually.True(async () => (await client.GetAsync("/pid")).StatusCode == HttpStatusCode.OK, Deadline, "a replacement worker");
        var sleepsBefore = Sleeps();
        var dying = client.PostAsync("/sleep?seconds=10", new StringContent(""));
        await Eventually.True(() => Sleeps() > sleepsBefore && server.WorkerPids().Count == 1, Deadline, "the worker to take the POST");
        Signals.Send(server.WorkerPids()[0], Signals.KILL);
        await AssertPage(await dying, HttpStatusCode.BadGateway, 502);

        // The app's own errors pass through untouched.
        await Eventually.True(async () => (await client.GetAsync("/bytes?count=3")).StatusCode == HttpStatusCode.OK, Deadline, "the replacement worker's answer");
    }

    private static async Task AssertPage(HttpResponseMessage response, HttpStatusCode status, int page)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal($"<h1>custom {page}</h1>", await response.Content.ReadAsStringAsync());
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task MissingErrorPage_IsRefusedAtConfigTime_WithThePath()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-error-pages-").FullName;
        File.WriteAllText(Path.Combine(dir, "missing.yaml"), "error_page:\n  502: errors/missing.html\n");
        var missing = await Binary.RunAsync(["--check-config", "-c", "missing.yaml", "@echo"], dir);
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains(Path.Combine(dir, "errors", "missing.html"), missing.Stdout + missing.Stderr);

        File.WriteAllText(Path.Combine(dir, "status.yaml"), "error_page:\n  500: errors/500.html\n");
        var status = await Binary.RunAsync(["--check-config", "-c", "status.yaml", "@echo"], dir);
        Assert.NotEqual(0, status.ExitCode);
        Assert.Contains("does not produce: 500", status.Stdout + status.Stderr);
    }
}
