using System.Text;
using Gunicorn.Tests.Conformance;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Front;

/// <summary>One raw-socket test per strictness rule and limit, with the exact status; none may reach the app.</summary>
public class StrictHttpTests(StrictHttpTests.Server fixture) : IClassFixture<StrictHttpTests.Server>
{
    public sealed class Server : IAsyncLifetime
    {
        public GunicornServer Instance { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            var dir = Directory.CreateTempSubdirectory("gunicorn-net-strict-").FullName;
            File.WriteAllText(Path.Combine(dir, "gunicorn.yaml"), """
                limit_request_line: 100
                limit_request_fields: 5
                limit_request_field_size: 200
                client_max_body_size: 1k
                header_map: refuse
                """);
            Instance = await GunicornServer.StartAsync(["-w", "1", "@echo"], dir);
        }

        public async Task DisposeAsync() => await Instance.DisposeAsync();
    }

    public static TheoryData<string, string, int> Rules => new()
    {
        { "request line over limit_request_line", $"GET /{new string('a', 120)} HTTP/1.1\r\nHost: x\r\n\r\n", 414 },
        { "more headers than limit_request_fields", "GET / HTTP/1.1\r\nHost: x\r\n" + string.Concat(Enumerable.Range(0, 6).Select(i => $"X-{i}: v\r\n")) + "\r\n", 431 },
        { "one header line over limit_request_field_size", $"GET / HTTP/1.1\r\nHost: x\r\nX-Big: {new string('b', 200)}\r\n\r\n", 431 },
        { "body over client_max_body_size", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n" + new string('c', 2000), 413 },
        { "CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405 },
        { "asterisk form with a method other than OPTIONS", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
        { "Transfer-Encoding other than chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501 },
        { "Content-Length listed twice", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc", 400 },
        { "Content-Length with Transfer-Encoding", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400 },
        { "bare LF line ending", "GET / HTTP/1.1\nHost: x\n\n", 400 },
        { "underscore in a header name with header_map refuse", "GET / HTTP/1.1\r\nHost: x\r\nX_Forwarded_For: 1.2.3.4\r\n\r\n", 400 },
        { "DEL in a header value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u007fb\r\n\r\n", 400 },
        { "lowercase method", "get / HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
        { "missing Host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400 },
        { "Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400 },
        { "Content-Type twice", "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", 400 },
    };

    [Theory]
    [MemberData(nameof(Rules))]
    public async Task Refused_WithExactStatus_BeforeTheApp(string rule, string request, int status)
    {
        var (responses, closed) = await RawHttp.ExchangeAsync(fixture.Instance.BaseAddress, Encoding.Latin1.GetBytes(request), 1, TimeSpan.FromSeconds(10));
        Assert.True(responses.Count == 1, $"{rule}: no response (closed: {closed})");
        Assert.Equal(status, responses[0].Status);
        Assert.DoesNotContain("\"pid\":", responses[0].BodyText);
    }

    [Theory]
    [InlineData("+3")]
    [InlineData("-0")]
    [InlineData("3, 3")]
    [InlineData("0x3")]
    public async Task ContentLengthOtherThanDigits_Is400_BeforeTheApp(string length)
    {
        var (responses, _) = await RawHttp.ExchangeAsync(fixture.Instance.BaseAddress,
            Encoding.Latin1.GetBytes($"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\nabc"), 1, TimeSpan.FromSeconds(10));
        Assert.Equal(400, responses.Single().Status);
        Assert.DoesNotContain("\"pid\":", responses[0].BodyText);
    }

    [Fact]
    public async Task PaddedContentLength_IsDigitsOnly_AndReachesTheWorkerAsThePlainNumber()
    {
        var (responses, _) = await RawHttp.ExchangeAsync(fixture.Instance.BaseAddress,
            Encoding.Latin1.GetBytes("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 03\r\n\r\nabc"), 1, TimeSpan.FromSeconds(10));
        Assert.Equal(200, responses.Single().Status);
        Assert.Contains("[\"Content-Length\",\"3\"]", responses[0].BodyText);
        Assert.Contains("\"body\":\"YWJj\"", responses[0].BodyText);
    }

    [Fact]
    public async Task PipelinedRequests_BodiesThatLookLikeHeadsPass_AndOnlyTheBadHeadIsRefused()
    {
        // A fixed-length body and a chunked body both carry the bad header as data: bodies are skipped, not read as
        // heads. The third request's own header is the violation; the two before it are served first.
        const string fake = "Content-Length: +3\r\n";
        var pipelined =
            $"POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: {fake.Length}\r\n\r\n{fake}" +
            $"POST /two HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{fake.Length:x}\r\n{fake}\r\n0\r\n\r\n" +
            "POST /three HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc";
        var (responses, _) = await RawHttp.ExchangeAsync(fixture.Instance.BaseAddress, Encoding.Latin1.GetBytes(pipelined), 3, TimeSpan.FromSeconds(10));
        Assert.Equal([200, 200, 400], responses.Select(r => r.Status));
        Assert.Contains("\"rawTarget\":\"/one\"", responses[0].BodyText);
        Assert.Contains("\"rawTarget\":\"/two\"", responses[1].BodyText);
        Assert.DoesNotContain("\"pid\":", responses[2].BodyText);
    }

    [Theory]
    [InlineData("Upgrade: x\r\n")]
    [InlineData("Connection: upgrade\r\nUpgrade: websocket\r\n")]
    [InlineData("Connection: keep-alive, Upgrade\r\nUpgrade: h2c\r\n")]
    public async Task AnUpgradeTheAppDoesNotTake_LeavesTheRequestsAfterItWatched(string upgradeHeaders)
    {
        // Only a 101 makes what follows something other than HTTP/1: a head that merely asks (the app answers 200, or
        // the front 501 for a WebSocket to a sync worker) must not switch the checks off for the rest of the connection.
        var pipelined = $"GET /up HTTP/1.1\r\nHost: x\r\n{upgradeHeaders}\r\n" +
            "POST /after HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" +
            "POST /three HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc";
        var (responses, _) = await RawHttp.ExchangeAsync(fixture.Instance.BaseAddress, Encoding.Latin1.GetBytes(pipelined), 3, TimeSpan.FromSeconds(10));
        Assert.Equal(3, responses.Count);
        Assert.NotEqual(101, responses[0].Status);
        Assert.Equal([200, 400], responses.Skip(1).Select(r => r.Status));
        Assert.Contains("\"rawTarget\":\"/after\"", responses[1].BodyText);
        Assert.DoesNotContain("\"pid\":", responses[2].BodyText);
    }

    [Fact]
    public async Task BareCarriageReturnsBeforeTheRequestLine_DoNotHideIt()
    {
        var (responses, _) = await RawHttp.ExchangeAsync(fixture.Instance.BaseAddress,
            Encoding.Latin1.GetBytes("\r\r\nGET * HTTP/1.1\r\nHost: x\r\n\r\n"), 1, TimeSpan.FromSeconds(10));
        Assert.Equal(400, responses.Single().Status);
    }

    [Theory]
    [InlineData(20)]
    [InlineData(40)]
    public async Task LongZeroPaddedContentLength_IsStillTheNumber(int zeros)
    {
        // RFC 9110 allows leading zeros (gunicorn reads the value as an integer); 19 digits were the most that passed.
        var (responses, _) = await RawHttp.ExchangeAsync(fixture.Instance.BaseAddress,
            Encoding.Latin1.GetBytes($"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {new string('0', zeros)}3\r\n\r\nabc"), 1, TimeSpan.FromSeconds(10));
        Assert.Equal(200, responses.Single().Status);
        Assert.Contains("\"body\":\"YWJj\"", responses[0].BodyText);
    }

    [Fact]
    public async Task ValidRequest_OnTheSameServer_Passes()
    {
        var (responses, _) = await RawHttp.ExchangeAsync(fixture.Instance.BaseAddress,
            Encoding.Latin1.GetBytes("POST /ok?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"), 1, TimeSpan.FromSeconds(10));
        Assert.Equal(200, responses.Single().Status);
        Assert.Contains("\"rawTarget\":\"/ok?x=1\"", responses[0].BodyText);
        Assert.DoesNotContain(responses[0].Headers, h => h.Key.Equals("Server", StringComparison.OrdinalIgnoreCase));
    }
}
