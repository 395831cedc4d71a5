using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using System.Buffers;
using Gunicorn.Backend.Arbiter;
using Gunicorn.Front.AccessLog;
using Gunicorn.Front.Forwarding;
using Gunicorn.Front.Listeners;
using Gunicorn.Settings.Sections;
using Microsoft.AspNetCore.Http;

namespace Gunicorn.Bench.Micro;

/// <summary>
/// The .NET side of the per-request work: the worker parsing the head the front sent, formatting an access log line,
/// the front's Content-Length rule over a request head, and choosing a worker.
/// </summary>
[MemoryDiagnoser]
public class HotPaths
{
    private readonly AccessLogFormatter _formatter = new(LoggingSettings.DefaultAccessLogFormat);
    private DefaultHttpContext _context = null!;

    private static readonly ReadOnlySequence<byte> Head = new(System.Text.Encoding.ASCII.GetBytes(
        "POST /articles/2026/cafe?page=2 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) benchmark\r\n" +
        "Accept: text/html,application/xhtml+xml\r\nAccept-Encoding: gzip, br\r\nCookie: session=abc123; theme=dark\r\n" +
        "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"));

    private readonly WorkerDispatcher _dispatcher = new(queueLimit: 64);

    [GlobalSetup]
    public void Setup()
    {
        _dispatcher.Publish(Enumerable.Range(1, 5)
            .Select(i => new WorkerEndpoint($"w{i}", $"/tmp/w{i}.sock", Concurrency: 1)).ToList());
        _context = new DefaultHttpContext();
        var request = _context.Request;
        request.Method = "GET";
        request.Path = "/articles/2026/caf%C3%A9";
        request.QueryString = new QueryString("?page=2&sort=desc");
        request.Protocol = "HTTP/1.1";
        request.Host = new HostString("example.com");
        request.Headers.UserAgent = "Mozilla/5.0 (X11; Linux x86_64) benchmark";
        request.Headers.Accept = "text/html,application/xhtml+xml";
        request.Headers.AcceptEncoding = "gzip, br";
        request.Headers.Referer = "https://example.com/";
        request.Headers["X-Forwarded-For"] = "203.0.113.7";
        request.Headers["X-Forwarded-Proto"] = "https";
        request.Headers.Cookie = "session=abc123; theme=dark";
        _context.Response.StatusCode = 200;
    }

    /// <summary>A request head as the front sends it to a WSGI worker (YARP's headers included).</summary>
    public static readonly byte[] WorkerHead = System.Text.Encoding.ASCII.GetBytes(
        "GET /articles/2026/caf%C3%A9?page=2&sort=desc HTTP/1.1\r\nHost: example.com\r\n" +
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) benchmark\r\nAccept: text/html,application/xhtml+xml\r\n" +
        "Accept-Encoding: gzip, br\r\nReferer: https://example.com/\r\nCookie: session=abc123; theme=dark\r\n" +
        "Gunicorn-Net-Peer: 203.0.113.7 51234\r\nX-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n" +
        "X-Forwarded-Host: example.com");

    private readonly Gunicorn.Worker.Http.Http1Request _request = new();

    /// <summary>The worker's first step for every request: parsing the head the front sent (no allocation per header).</summary>
    [Benchmark]
    public int WorkerHeadParse()
    {
        Gunicorn.Worker.Http.Http1HeadParser.Parse(WorkerHead, _request);
        return _request.Headers.Count;
    }

    [Benchmark]
    public string AccessLogLine() => _formatter.Format(new AccessLogEntry(_context, DateTimeOffset.Now, System.Diagnostics.Stopwatch.GetTimestamp(), 1234));

    /// <summary>The Content-Length rule's scan of a 300-byte request head and its body (ContentLengthGuard).</summary>
    [Benchmark]
    public bool HeadScan()
    {
        var scanner = new Http1HeadScanner();
        scanner.Scan(Head);
        return scanner.Stopped;
    }

    /// <summary>Taking and giving back a slot on the least busy of 5 sync workers (no waiting).</summary>
    [Benchmark]
    public async Task<string> ChooseWorker()
    {
        var slot = (await _dispatcher.AcquireAsync(TimeSpan.FromSeconds(1), CancellationToken.None))!;
        _dispatcher.Release(slot);
        return slot.Key;
    }

    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(HotPaths).Assembly).Run(args);
}
