using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Gunicorn.Backend.Wsgi;
using Gunicorn.Front.AccessLog;
using Gunicorn.Settings.Sections;
using Microsoft.AspNetCore.Http;

namespace Gunicorn.Bench.Micro;

/// <summary>The .NET side of the per-request work: building the WSGI environ and formatting an access log line.</summary>
[MemoryDiagnoser]
public class HotPaths
{
    private readonly AccessLogFormatter _formatter = new(LoggingSettings.DefaultAccessLogFormat);
    private DefaultHttpContext _context = null!;

    [GlobalSetup]
    public void Setup()
    {
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

    [Benchmark]
    public string WsgiEnvironPack() => WsgiEnviron.Pack(_context, 0);

    [Benchmark]
    public string AccessLogLine() => _formatter.Format(new AccessLogEntry(_context, DateTimeOffset.Now, System.Diagnostics.Stopwatch.GetTimestamp(), 1234));

    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(HotPaths).Assembly).Run(args);
}
