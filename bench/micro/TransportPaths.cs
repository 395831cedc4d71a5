using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using Gunicorn.Front.Forwarding.Transport;

namespace Gunicorn.Bench.Micro;

/// <summary>
/// The front's transport to the workers, its two per-request steps without the sockets: writing the request head the
/// forwarder prepared (11 headers, as the front sends a browser's GET) and parsing a worker's response head into the
/// response the forwarder reads. Allocations shown: the write's should be none; the parse's are the response object
/// and the header values the forwarder copies out.
/// </summary>
[MemoryDiagnoser]
public class TransportPaths
{
    private static readonly byte[] ResponseHead = System.Text.Encoding.ASCII.GetBytes(
        "HTTP/1.1 200 OK\r\nDate: Thu, 03 Dec 2026 18:00:00 GMT\r\nContent-Type: text/html; charset=utf-8\r\n" +
        "Content-Length: 1234\r\nCache-Control: no-cache\r\nSet-Cookie: session=abc123; Path=/; HttpOnly\r\n" +
        "X-Frame-Options: DENY\r\n\r\n");

    private readonly WorkerConnection _connection =
        new(new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified), new WorkerPool("w1", "/tmp/w1.sock"));

    private readonly HttpRequestMessage _request = new(HttpMethod.Get, "http://w1/articles/2026/caf%C3%A9?page=2&sort=desc");

    [GlobalSetup]
    public void Setup()
    {
        var headers = _request.Headers;
        headers.TryAddWithoutValidation("Host", "example.com");
        headers.TryAddWithoutValidation("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) benchmark");
        headers.TryAddWithoutValidation("Accept", "text/html,application/xhtml+xml");
        headers.TryAddWithoutValidation("Accept-Encoding", "gzip, br");
        headers.TryAddWithoutValidation("Referer", "https://example.com/");
        headers.TryAddWithoutValidation("Cookie", "session=abc123; theme=dark");
        headers.TryAddWithoutValidation("Gunicorn-Net-Peer", "203.0.113.7 51234");
        headers.TryAddWithoutValidation("X-Forwarded-For", "203.0.113.7");
        headers.TryAddWithoutValidation("X-Forwarded-Proto", "https");
        headers.TryAddWithoutValidation("X-Forwarded-Host", "example.com");
    }

    /// <summary>The request head composed in the connection's buffer, ready for its one send.</summary>
    [Benchmark]
    public int TransportRequestHeadWrite()
    {
        RequestHeadWriter.Write(_connection, _request);
        var written = _connection.PendingWrite;
        _connection.ResetForReuse();
        return written;
    }

    /// <summary>A worker's response head parsed into the response the forwarder copies to the client.</summary>
    [Benchmark]
    public int TransportResponseHeadParse()
    {
        using var response = new HttpResponseMessage { Content = new WorkerResponseContent() };
        var head = ResponseHeadParser.Parse(ResponseHead, response, isHeadRequest: false);
        return head.StatusCode;
    }
}
