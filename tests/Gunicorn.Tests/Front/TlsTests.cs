using System.Net;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Front;

/// <summary>certfile/keyfile, TLS 1.2+ only, ALPN h2, and cleartext h2.</summary>
public class TlsTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Tls_NegotiatesH2ByAlpn_AndRefusesOldProtocols()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-tls-").FullName;
        WriteSelfSignedPem(dir);
        await using var server = await GunicornServer.StartAsync(
            ["-b", "127.0.0.1:0", "--certfile", "cert.pem", "--keyfile", "key.pem", "--http-protocols", "h1,h2", "@echo"], dir, waitForReady: false);
        var port = (await server.WaitForLogAsync(@"Listening at: https://127\.0\.0\.1:(\d+)", Deadline)).Groups[1].Value;
        await server.WaitForLogAsync(@"All \d+ workers ready", Deadline);

        using var h2 = Client(SslProtocols.Tls12 | SslProtocols.Tls13);
        var request = new HttpRequestMessage(HttpMethod.Get, $"https://127.0.0.1:{port}/pid") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var response = await h2.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpVersion.Version20, response.Version);

#pragma warning disable SYSLIB0039 // TLS 1.1 on purpose: the server must refuse it.
        using var old = Client(SslProtocols.Tls11);
#pragma warning restore SYSLIB0039
        await Assert.ThrowsAsync<HttpRequestException>(() => old.GetAsync($"https://127.0.0.1:{port}/pid"));
    }

    /// <summary>The issue's acceptance: TLS and h2 reachable with curl and h2load (Debian's clients).</summary>
    [SkippableFact]
    public async Task CurlAndH2load_ReachTheTlsListenerOverH2()
    {
        Skip.IfNot(ExternalTool.IsInstalled("/usr/bin/curl") && ExternalTool.IsInstalled("/usr/bin/h2load"),
            "curl and h2load (nghttp2-client) are installed by test.sh.");
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-h2load-").FullName;
        WriteSelfSignedPem(dir);
        await using var server = await GunicornServer.StartAsync(
            ["-b", "127.0.0.1:0", "-w", "2", "-k", "gthread", "--threads", "4", "--certfile", "cert.pem", "--keyfile", "key.pem",
             "--http-protocols", "h1,h2", "@echo"], dir, waitForReady: false);
        var url = $"https://127.0.0.1:{(await server.WaitForLogAsync(@"Listening at: https://127\.0\.0\.1:(\d+)", Deadline)).Groups[1].Value}/pid";
        await server.WaitForLogAsync(@"All \d+ workers ready", Deadline);

        var curl = await ExternalTool.RunAsync("/usr/bin/curl", ["-sk", "--http2", "-o", "/dev/null", "-w", "%{http_version} %{http_code}", url], Deadline);
        Assert.Equal("2 200", curl.Output.Trim());

        var h2load = await ExternalTool.RunAsync("/usr/bin/h2load", ["-n", "400", "-c", "4", "-m", "8", url], Deadline);
        Assert.Contains("Application protocol: h2", h2load.Output);
        Assert.Contains("400 succeeded, 0 failed, 0 errored", h2load.Output);
        Assert.Contains("status codes: 400 2xx", h2load.Output);
    }

    [Fact]
    public async Task CleartextH2_WhenH2IsTheOnlyProtocol()
    {
        await using var server = await GunicornServer.StartAsync(["--http-protocols", "h2", "@echo"], waitForReady: false);
        var port = (await server.WaitForLogAsync(@"Listening at: http://127\.0\.0\.1:(\d+)", Deadline)).Groups[1].Value;
        await server.WaitForLogAsync(@"All \d+ workers ready", Deadline);
        using var client = new HttpClient();
        var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/pid") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var response = await client.SendAsync(request);
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static HttpClient Client(SslProtocols protocols) => new(new SocketsHttpHandler
    {
        SslOptions = { EnabledSslProtocols = protocols, RemoteCertificateValidationCallback = (_, _, _, _) => true },
    });

    internal static void WriteSelfSignedPem(string dir)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.Now.AddDays(-1), DateTimeOffset.Now.AddDays(2));
        File.WriteAllText(Path.Combine(dir, "cert.pem"), certificate.ExportCertificatePem());
        File.WriteAllText(Path.Combine(dir, "key.pem"), key.ExportPkcs8PrivateKeyPem());
    }
}
