using System.Net;
using System.Text;
using System.Text.Json;
using Gunicorn.Tests.Conformance;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Front;

/// <summary>
/// proxy_protocol: a load balancer's PROXY header (v1 text, v2 binary) names the real client for the access log and
/// the worker; peers outside proxy_allow_ips and malformed headers are refused before any HTTP is read.
/// </summary>
public class ProxyProtocolTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private static readonly byte[] V2Signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    [Fact]
    public async Task V1Header_FromAnAllowedPeer_NamesTheClientInTheAccessLogAndToTheWorker()
    {
        await using var server = await GunicornServer.StartAsync(["--proxy-protocol", "--access-logfile", "-", "@echo"]);
        var request = "PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\nGET /who HTTP/1.1\r\nHost: example.com\r\n\r\n";
        var response = await SendAsync(server, Encoding.ASCII.GetBytes(request));
        Assert.Equal(200, response.Status);
        Assert.Equal("203.0.113.7", ForwardedFor(response));
        await server.WaitForLogAsync(@"203\.0\.113\.7 - - \[.*\] ""GET /who HTTP/1\.1"" 200", Deadline);
    }

    [Fact]
    public async Task V2Header_Ipv6_AndLocalCommand()
    {
        await using var server = await GunicornServer.StartAsync(["--proxy-protocol", "@echo"]);
        var addresses = Convert.FromHexString("20010DB8000000000000000000000099" + "20010DB8000000000000000000000001" + "D4310050");
        byte[] proxied = [.. V2Signature, 0x21, 0x21, 0x00, (byte)addresses.Length, .. addresses, .. Get("/v2")];
        Assert.Equal("2001:db8::99", ForwardedFor(await SendAsync(server, proxied)));

        // LOCAL (a balancer's own health check): the connection's real peer stays the client.
        byte[] local = [.. V2Signature, 0x20, 0x00, 0x00, 0x00, .. Get("/local")];
        Assert.Equal("127.0.0.1", ForwardedFor(await SendAsync(server, local)));
    }

    [Fact]
    public async Task HeaderFromAPeerOutsideProxyAllowIps_Is403_AndNeverReachesTheApp()
    {
        await using var server = await GunicornServer.StartAsync(["--proxy-protocol", "--proxy-allow-from", "10.0.0.0/8", "@echo"]);
        var response = await SendAsync(server, Encoding.ASCII.GetBytes("PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n" + "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        Assert.Equal(403, response.Status);
        Assert.DoesNotContain("\"pid\":", response.BodyText);
        await server.WaitForLogAsync(@"Refused a PROXY protocol header from 127\.0\.0\.1:\d+: peer .* is not in proxy_allow_ips", Deadline);
        // Without a header the same peer is an ordinary client.
        Assert.Equal(200, (await SendAsync(server, Get("/plain"))).Status);
    }

    [Theory]
    [InlineData("PROXY TCP4 1.2.3 192.0.2.1 40000 443\r\n")]
    [InlineData("PROXY TCP4 203.0.113.7 192.0.2.1 70000 443\r\n")]
    [InlineData("PROXY TCP6 203.0.113.7 192.0.2.1 40000 443\r\n")]
    [InlineData("PROXY TCP4 203.0.113.7 192.0.2.1 40000\r\n")]
    [InlineData("PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\n")]
    public async Task MalformedV1Header_Is400(string header)
    {
        await using var server = await GunicornServer.StartAsync(["--proxy-protocol", "@echo"]);
        var response = await SendAsync(server, [.. Encoding.ASCII.GetBytes(header), .. Get("/")]);
        Assert.Equal(400, response.Status);
        Assert.Contains("invalid PROXY protocol header", response.BodyText);
    }

    [Fact]
    public async Task MalformedV1Header_IsLoggedWithItsControlCharactersEscaped()
    {
        // A client's escape sequences and bare CRs must not reach an operator's terminal or forge a log line.
        await using var server = await GunicornServer.StartAsync(["--proxy-protocol", "@echo"]);
        var response = await SendAsync(server, [.. Encoding.ASCII.GetBytes("PROXY TCP4 \u001b[2J\rforged entry\r\n"), .. Get("/")]);
        Assert.Equal(400, response.Status);
        await server.WaitForLogAsync(@"malformed PROXY line 'PROXY TCP4 \\x1b\[2J\\x0dforged entry'", Deadline);
        Assert.DoesNotContain("\u001b", server.Log);
    }

    [Fact]
    public async Task HeaderLeftUnfinished_Is400AfterClientHeaderTimeout()
    {
        await using var server = await GunicornServer.StartAsync(["--proxy-protocol", "--client-header-timeout", "1", "@echo"]);
        var (responses, _) = await RawHttp.ExchangeAsync(server.BaseAddress, Encoding.ASCII.GetBytes("PROXY TCP4 203.0.113.7 "), 1, Deadline);
        Assert.True(responses.Count == 1, "no response");
        Assert.Equal(400, responses[0].Status);
        Assert.Contains("incomplete PROXY protocol header after client_header_timeout (1 s)", responses[0].BodyText);
    }

    [Fact]
    public async Task WithoutProxyProtocol_AProxyLineIsJustABadRequest()
    {
        await using var server = await GunicornServer.StartAsync(["@echo"]);
        var response = await SendAsync(server, Encoding.ASCII.GetBytes("PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n" + "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        Assert.Equal(400, response.Status);
    }

    private static byte[] Get(string path) => Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: example.com\r\n\r\n");

    private static async Task<RawResponse> SendAsync(GunicornServer server, byte[] bytes)
    {
        var (responses, _) = await RawHttp.ExchangeAsync(server.BaseAddress, bytes, 1, Deadline, halfCloseWhenIdle: true);
        Assert.True(responses.Count == 1, "no response");
        return responses[0];
    }

    private static string ForwardedFor(RawResponse response)
    {
        Assert.True(response.Status == 200, $"{response.Status} {response.BodyText}");
        return JsonDocument.Parse(response.Body).RootElement.GetProperty("headers").EnumerateArray()
            .Single(h => string.Equals(h[0].GetString(), "X-Forwarded-For", StringComparison.OrdinalIgnoreCase))[1].GetString()!;
    }
}
