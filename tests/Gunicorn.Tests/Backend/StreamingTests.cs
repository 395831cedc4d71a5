using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Backend;

/// <summary>
/// Every byte path streams with bounded memory (tests/apps/streaming.py, real front, real workers): gigabyte
/// downloads and uploads, server-sent events, files handed to the front (X-Accel-Redirect, X-Sendfile) or sent by
/// sendfile (wsgi.file_wrapper), and apps that break the response rules.
/// </summary>
public class StreamingTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private const string DebianPython = "/usr/bin/python3";
    private const int MiB = 1024 * 1024;

    /// <summary>The issue's bound on memory growth while a gigabyte passes through a process.</summary>
    private const long GrowthBound = 64L * MiB;

    private static Task<GunicornServer> StartAsync(string workingDirectory, params string[] args) =>
        GunicornServer.StartAsync(["--python", DebianPython, "--chdir", RepoPaths.Combine("tests", "apps"),
            "--client-max-body-size", "0", "--unbuffered-path", "/unbuffered", .. args, "streaming:app"], workingDirectory);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task GeneratedDownloadOf1GiB_ArrivesWhole_WhileWorkerAndFrontMemoryStayBounded(bool responseBuffering)
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-stream-").FullName;
        await using var server = await StartAsync(dir, "-w", "1", "--response-buffering", responseBuffering ? "true" : "false");
        var worker = int.Parse(await server.Client.GetStringAsync("/pid"));
        const int blocks = 1024;
        using var master = RssSampler.Start(server.Pid);
        using var workerRss = RssSampler.Start(worker);

        using var response = await server.Client.GetAsync($"/download?mib={blocks}", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var (length, hash) = await HashAsync(await response.Content.ReadAsStreamAsync());

        Assert.Equal((long)blocks * MiB, length);
        Assert.Equal(ExpectedDownloadHash(blocks), hash);
        Assert.True(workerRss.Growth < GrowthBound, $"the worker's RSS grew by {workerRss.Growth / MiB} MiB");
        Assert.True(master.Growth < GrowthBound, $"the front's RSS grew by {master.Growth / MiB} MiB");
    }

    [Fact]
    public async Task UploadOf1GiB_OnAnUnbufferedRoute_IsHashedAsTheAppReads_WithBoundedWorkerMemory()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-upload-").FullName;
        await using var server = await StartAsync(dir, "-w", "1");
        var worker = int.Parse(await server.Client.GetStringAsync("/pid"));
        using var workerRss = RssSampler.Start(worker);
        var sent = new HashingStream(1024L * MiB);

        var request = new HttpRequestMessage(HttpMethod.Post, "/unbuffered/upload") { Content = new StreamContent(sent, 256 * 1024) };
        request.Content.Headers.ContentLength = sent.Length;
        using var response = await server.Client.SendAsync(request);
        var answer = await response.Content.ReadAsStringAsync();

        Assert.Equal($"{sent.Length} {sent.Hash()}", answer);
        Assert.True(workerRss.Growth < GrowthBound, $"the worker's RSS grew by {workerRss.Growth / MiB} MiB");
    }

    [Fact]
    public async Task ServerSentEvents_OnAnUnbufferedRoute_ArriveAsTheAppYieldsThem()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-sse-").FullName;
        await using var server = await StartAsync(dir, "-w", "1");
        await server.Client.GetStringAsync("/pid");

        var watch = Stopwatch.StartNew();
        using var response = await server.Client.GetAsync("/unbuffered/events?count=10", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var arrivals = new List<TimeSpan>();
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                arrivals.Add(watch.Elapsed);
            }
        }

        Assert.Equal(10, arrivals.Count);
        Assert.True(arrivals[0] < TimeSpan.FromMilliseconds(300), $"the first event came after {arrivals[0].TotalMilliseconds:0} ms");
        Assert.True(arrivals[9] < TimeSpan.FromSeconds(2.5), $"the tenth event came after {arrivals[9].TotalMilliseconds:0} ms");
        // Streamed, not delivered at the end: the events are spread over the app's 200 ms pauses.
        Assert.True(arrivals[9] - arrivals[0] > TimeSpan.FromMilliseconds(1500));
    }

    [Fact]
    public async Task XAccelRedirect_ServesAnInternalFile_WithTheAppsHeaders_RangesWork_AndTheWorkerIsFreeAtOnce()
    {
        var (server, _, content) = await StartWithInternalFileAsync("protected", "big.bin", 100 * MiB);
        await using var stoppedAtTheEnd = server;

        // Clients cannot reach the internal mapping themselves.
        Assert.Equal(HttpStatusCode.NotFound, (await server.Client.GetAsync("/protected/big.bin")).StatusCode);

        // A slow download of the whole file is in progress while the only sync worker answers another request.
        using var slowClient = new HttpClient { BaseAddress = server.BaseAddress };
        using var download = await slowClient.GetAsync("/accel?name=big.bin", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, download.StatusCode);
        Assert.Equal("application/x-custom", download.Content.Headers.ContentType!.MediaType);
        Assert.Equal("attachment; filename=\"big.bin\"", download.Content.Headers.ContentDisposition!.ToString());
        Assert.Equal("private", download.Headers.CacheControl!.ToString());
        Assert.Equal(content.Length, download.Content.Headers.ContentLength);
        Assert.False(download.Headers.Contains("X-Accel-Redirect"));
        var body = await download.Content.ReadAsStreamAsync();
        var first = new byte[MiB];
        await body.ReadExactlyAsync(first);
        var watch = Stopwatch.StartNew();
        Assert.Matches(@"^\d+$", await server.Client.GetStringAsync("/pid"));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), "the worker was held by the download");
        var rest = new MemoryStream();
        await body.CopyToAsync(rest);
        Assert.Equal(content, first.Concat(rest.ToArray()).ToArray());

        // Ranges and conditional requests are the front's static file handling.
        var ranged = new HttpRequestMessage(HttpMethod.Get, "/accel?name=big.bin");
        ranged.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(1000, 1999);
        using var partial = await server.Client.SendAsync(ranged);
        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        Assert.Equal(content.AsSpan(1000, 1000).ToArray(), await partial.Content.ReadAsByteArrayAsync());

        // A redirect outside every mapping, or to a missing file, is 404 with the reason in the log.
        Assert.Equal(HttpStatusCode.NotFound, (await server.Client.GetAsync("/accel?name=missing.bin")).StatusCode);
        await server.WaitForLogAsync(@"X-Accel-Redirect: /protected/missing\.bin names no file", Deadline);
        Assert.Equal(HttpStatusCode.NotFound, (await server.Client.GetAsync("/accel?name=../../etc/passwd")).StatusCode);
    }

    [Fact]
    public async Task XSendfile_UnderAMappedRoot_IsServedByTheFront_AndOutsideItIs404()
    {
        var (server, files, content) = await StartWithInternalFileAsync("files", "a.bin", 3 * MiB);
        await using var stoppedAtTheEnd = server;

        Assert.Equal(content, await server.Client.GetByteArrayAsync($"/sendfile?file={Uri.EscapeDataString(Path.Combine(files, "a.bin"))}"));
        var outside = await server.Client.GetAsync($"/sendfile?file={Uri.EscapeDataString("/etc/hostname")}");
        Assert.Equal(HttpStatusCode.NotFound, outside.StatusCode);
        await server.WaitForLogAsync(@"X-Sendfile: /etc/hostname .*is not under a static mapping", Deadline);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task FileWrapper_IsSentWhole_WithAndWithoutSendfile(bool sendfile)
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-filewrapper-").FullName;
        var file = Path.Combine(dir, "f.bin");
        var content = RandomNumberGenerator.GetBytes(5 * MiB + 17);
        await File.WriteAllBytesAsync(file, content);
        string[] flags = sendfile ? ["-w", "1"] : ["-w", "1", "--no-sendfile"];
        await using var server = await StartAsync(dir, flags);

        Assert.Equal(content, await server.Client.GetByteArrayAsync($"/file_wrapper?file={Uri.EscapeDataString(file)}"));
    }

    [Theory]
    [InlineData("/bad/not-bytes", "must yield bytes")]
    [InlineData("/bad/short", "shorter than its Content-Length")]
    [InlineData("/bad/long", "more than its Content-Length")]
    [InlineData("/bad/raise-after-head", "the app failed after its head was sent")]
    public async Task AppBreakingTheRulesAfterItsHead_ClosesTheConnection_LogsWhy_AndTheWorkerKeepsServing(string path, string logged)
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-badapp-").FullName;
        // Unbuffered: what the client sees is what the worker sent.
        await using var server = await StartAsync(dir, "-w", "1", "--unbuffered-path", "/bad");
        var worker = await server.Client.GetStringAsync("/pid");

        var response = await RawAsync(server, $"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

        // One head at most, and never a body presented as complete when it is not.
        Assert.True(CountOf(response, "HTTP/1.1 ") <= 1, response);
        Assert.DoesNotContain("67890", response);
        await server.WaitForLogAsync(logged, Deadline);
        Assert.Equal(worker, await server.Client.GetStringAsync("/pid"));
    }

    [Fact]
    public async Task ClientHangingUpMidDownload_ClosesTheAppsIterable_AndFreesTheWorker()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-hangup-").FullName;
        var mark = Path.Combine(dir, "closed");
        await using var server = await StartAsync(dir, "-w", "1", "--unbuffered-path", "/closing");
        var worker = await server.Client.GetStringAsync("/pid");

        using (var client = new TcpClient())
        {
            await client.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET /closing?mark={Uri.EscapeDataString(mark)} HTTP/1.1\r\nHost: x\r\n\r\n"));
            await stream.ReadExactlyAsync(new byte[4 * MiB]);
        }

        await Eventually.True(() => File.Exists(mark), Deadline, "the app's iterable to be closed");
        Assert.Equal(worker, await server.Client.GetStringAsync("/pid"));
    }

    [Fact]
    public async Task ListSubclassWithClose_IsClosedAfterItsAnswer()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-close-list-").FullName;
        var mark = Path.Combine(dir, "closed");
        await using var server = await StartAsync(dir, "-w", "1");

        Assert.Equal("listed", await server.Client.GetStringAsync($"/closing-list?mark={Uri.EscapeDataString(mark)}"));

        await Eventually.True(() => File.Exists(mark), Deadline, "the list subclass's close() to be called");
    }

    [Theory]
    [InlineData("zz")]
    [InlineData("-5")]
    [InlineData("99999999999999999999")]
    public async Task ChunkedUploadWithABadChunkSize_Is400AndClosed_OnBufferedAndUnbufferedRoutes(string size)
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-badchunk-").FullName;
        await using var server = await StartAsync(dir, "-w", "1");
        foreach (var path in new[] { "/upload", "/unbuffered/upload" })
        {
            var response = await RawAsync(server,
                $"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n{size}\r\nabc\r\n0\r\n\r\n");
            Assert.StartsWith("HTTP/1.1 400", response);
        }
        Assert.Matches(@"^\d+$", await server.Client.GetStringAsync("/pid"));
    }

    [Fact]
    public async Task SlowBodyOnAnUnbufferedRoute_IsCoveredByTheSyncWorkersTimeout()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-slowbody-").FullName;
        await using var server = await StartAsync(dir, "-w", "1", "--timeout", "2");
        var worker = int.Parse(await server.Client.GetStringAsync("/pid"));

        using var client = new TcpClient();
        await client.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        // A body that never finishes arriving: the app is stuck in wsgi.input.read() on the only sync worker.
        await client.GetStream().WriteAsync(Encoding.ASCII.GetBytes("POST /unbuffered/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly ten b"));

        await server.WaitForLogAsync($@"WORKER TIMEOUT \(pid:{worker}\)", Deadline);
        await Eventually.True(() => server.WorkerPids().Any(pid => pid != worker), Deadline, "a replacement worker");
        Assert.Matches(@"^\d+$", await server.Client.GetStringAsync("/pid"));
    }

    /// <summary>A server whose static mapping /<paramref name="prefix"/> is internal and holds one file of random bytes.</summary>
    private static async Task<(GunicornServer Server, string Root, byte[] Content)> StartWithInternalFileAsync(string prefix, string name, int size)
    {
        var dir = Directory.CreateTempSubdirectory($"gunicorn-net-{prefix}-").FullName;
        var root = Directory.CreateDirectory(Path.Combine(dir, prefix)).FullName;
        var content = RandomNumberGenerator.GetBytes(size);
        await File.WriteAllBytesAsync(Path.Combine(root, name), content);
        File.WriteAllText(Path.Combine(dir, "gunicorn.yaml"), $"static:\n  /{prefix}:\n    root: {root}\n    internal: true\n");
        return (await StartAsync(dir, "-c", Path.Combine(dir, "gunicorn.yaml"), "-w", "1"), root, content);
    }

    /// <summary>Sends raw bytes and reads until the server closes the connection (or 10 s pass).</summary>
    private static async Task<string> RawAsync(GunicornServer server, string request)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            {
                received.Write(buffer, 0, n);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // A reset is a closed connection too; a timeout leaves what arrived.
        }
        return Encoding.Latin1.GetString(received.ToArray());
    }

    private static int CountOf(string text, string what)
    {
        var count = 0;
        for (var at = text.IndexOf(what, StringComparison.Ordinal); at >= 0; at = text.IndexOf(what, at + 1, StringComparison.Ordinal))
        {
            count++;
        }
        return count;
    }

    private static async Task<(long Length, string Hash)> HashAsync(Stream body)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[256 * 1024];
        long length = 0;
        int n;
        while ((n = await body.ReadAsync(buffer)) > 0)
        {
            sha.AppendData(buffer, 0, n);
            length += n;
        }
        return (length, Convert.ToHexStringLower(sha.GetHashAndReset()));
    }

    /// <summary>The hash of streaming.py's generated download: block i is 1 MiB of the byte i % 251.</summary>
    private static string ExpectedDownloadHash(int blocks)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var block = new byte[MiB];
        for (var i = 0; i < blocks; i++)
        {
            Array.Fill(block, (byte)(i % 251));
            sha.AppendData(block);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>A request body of pseudo-random bytes generated as it is read, hashed on the way out.</summary>
    private sealed class HashingStream(long length) : Stream
    {
        private readonly IncrementalHash _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private readonly Random _random = new(20261203);
        private long _position;

        public string Hash() => Convert.ToHexStringLower(_sha.GetHashAndReset());

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - _position);
            _random.NextBytes(buffer.AsSpan(offset, n));
            _sha.AppendData(buffer, offset, n);
            _position += n;
            return n;
        }

        public override long Length => length;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>Samples a process's RSS every 20 ms from /proc; Growth is the peak above the first sample.</summary>
    private sealed class RssSampler : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly long _baseline;
        private long _peak;

        private RssSampler(int pid)
        {
            _baseline = _peak = Rss(pid);
            _ = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    var rss = Rss(pid);
                    if (rss > Volatile.Read(ref _peak))
                    {
                        Volatile.Write(ref _peak, rss);
                    }
                    await Task.Delay(20);
                }
            });
        }

        public static RssSampler Start(int pid) => new(pid);

        public long Growth => Math.Max(0, Volatile.Read(ref _peak) - _baseline);

        private static long Rss(int pid)
        {
            try
            {
                var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
                return 0;
            }
        }

        public void Dispose() => _stop.Cancel();
    }
}
