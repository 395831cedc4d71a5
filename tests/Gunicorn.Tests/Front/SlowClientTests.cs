using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Front;

/// <summary>Request and response buffering: with one sync worker, slow clients never hold it.</summary>
public class SlowClientTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task AbortedUploads_AndOversizedOnes_LeaveNoDescriptorAndNoTemporaryFileBehind()
    {
        // 64 KiB in memory, the rest spills to a temporary file: every upload below spills before it is abandoned.
        await using var server = await GunicornServer.StartAsync(["-w", "1", "--client-max-body-size", "2m", "@echo"]);
        await server.Client.GetStringAsync("/pid");
        var descriptorsBefore = Directory.GetFiles($"/proc/{server.Pid}/fd").Length;
        var part = new byte[200 * 1024];
        for (var i = 0; i < 1000; i++)
        {
            using var client = new TcpClient();
            await client.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
            var stream = client.GetStream();
            // Half of them hang up mid-body; the other half announce a chunked body larger than client_max_body_size (413).
            var head = i % 2 == 0
                ? "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
                : "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
            if (i % 2 == 0)
            {
                await stream.WriteAsync(part);
                continue;
            }
            try
            {
                for (var chunk = 0; chunk < 12; chunk++)
                {
                    await stream.WriteAsync(Encoding.ASCII.GetBytes($"{part.Length:x}\r\n"));
                    await stream.WriteAsync(part);
                    await stream.WriteAsync("\r\n"u8.ToArray());
                }
            }
            catch (IOException)
            {
                // The front answered 413 and closed while the body was still coming.
            }
        }

        await Eventually.True(() => Directory.GetFiles($"/proc/{server.Pid}/fd").Length <= descriptorsBefore + 4, Deadline,
            "the master's descriptors to return to their count before the uploads");
        // A buffer file lives for microseconds (unlinked once open); tests running alongside that spill their uploads
        // make such files too, so a glance could catch one of theirs: only a file that stays is a leak.
        await Eventually.True(() => Directory.GetFiles(Path.GetTempPath(), "gunicorn-net-buffer-*").Length == 0, Deadline,
            "no temporary buffer file left behind");
        Assert.Equal("200", (await server.Client.GetAsync("/pid")).StatusCode.ToString("D"));
    }

    [Fact]
    public async Task SlowUpload_DoesNotHoldTheOnlyWorker()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "1", "--log-level", "debug", "@echo"]);
        using var uploader = new TcpClient();
        await uploader.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        var stream = uploader.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf-"));
        await server.WaitForLogAsync("Buffering the request body of POST /upload", Deadline);
        // While the upload is incomplete, another client is served at once.
        var watch = Stopwatch.StartNew();
        Assert.True((await server.Client.GetAsync("/pid")).IsSuccessStatusCode);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"took {watch.Elapsed}");
        await FinishUploadAndAssertEchoedAsync(stream);
    }

    [Fact]
    public async Task SlowReader_OfALargeResponse_DoesNotHoldTheOnlyWorker()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "1", "--log-level", "debug", "@echo"]);
        using var reader = new TcpClient { ReceiveBufferSize = 4096 };
        await reader.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        // Ask for 8 MiB and read none of it: the kernel buffers fill, the front holds the rest.
        await reader.GetStream().WriteAsync(Encoding.ASCII.GetBytes("GET /bytes?count=8388608 HTTP/1.1\r\nHost: x\r\n\r\n"));
        // Without response buffering the worker would still be writing to a client that does not read.
        await server.WaitForLogAsync("The worker has answered GET /bytes; sending the buffered response", Deadline);
        var watch = Stopwatch.StartNew();
        await Eventually.True(async () => (await server.Client.GetAsync("/pid")).IsSuccessStatusCode, Deadline, "another request to be served");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"took {watch.Elapsed}");
        // The slow reader still gets every byte.
        var total = await CountBytesAsync(reader.GetStream(), upTo: 8388608);
        Assert.True(total >= 8388608, $"read {total} bytes");
    }

    /// <summary>
    /// The issue's acceptance scenario: with one sync worker, 200 slowloris connections, 50 stalled uploads and 20
    /// readers of a 4 MiB response that read nothing, the worker hands every large response to the front while its
    /// readers have not read it, and then a normal client's requests are each served within 1 s.
    /// </summary>
    [Fact]
    public async Task UnderAMixOfSlowClients_TheOnlySyncWorkerKeepsServingOthers()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "1", "-k", "sync", "--log-level", "debug", "@echo"]);
        var attackers = new List<TcpClient>();
        try
        {
            async Task OpenAsync(string bytes, int count, int receiveBuffer = 65536)
            {
                for (var i = 0; i < count; i++)
                {
                    var client = new TcpClient { ReceiveBufferSize = receiveBuffer };
                    attackers.Add(client);
                    await client.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
                    await client.GetStream().WriteAsync(Encoding.ASCII.GetBytes(bytes));
                }
            }
            await OpenAsync("GET /pid HTTP/1.1\r\nHost: x\r\nX-Slow: ", 200);
            await OpenAsync("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nonly ten b", 50);
            await OpenAsync("GET /bytes?count=4194304 HTTP/1.1\r\nHost: x\r\n\r\n", 20, receiveBuffer: 4096);

            // Producing 20 x 4 MiB is the app's own work; once the front holds it all, the worker is free although
            // none of those readers has read their response.
            await Eventually.True(
                () => server.Log.Split('\n').Count(l => l.Contains("The worker has answered GET /bytes; sending the buffered response")) == 20,
                Deadline, "the worker to hand all 20 large responses to the front");
            Assert.Equal(50, server.Log.Split('\n').Count(l => l.Contains("Buffering the request body of POST /upload")));
            for (var i = 0; i < 20; i++)
            {
                var watch = Stopwatch.StartNew();
                Assert.True((await server.Client.GetAsync("/pid")).IsSuccessStatusCode);
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"request {i + 1} took {watch.Elapsed}");
            }
        }
        finally
        {
            attackers.ForEach(a => a.Dispose());
        }
    }

    [Fact]
    public async Task UnbufferedPaths_StreamBothWays_AndOtherRoutesStayBuffered()
    {
        await using var server = await GunicornServer.StartAsync(
            ["-w", "1", "--log-level", "debug", "--unbuffered-path", "/stream", "@echo"]);
        // A slow upload to a streamed route reaches the worker before the body is complete.
        var from = server.LineCount;
        using var uploader = await StartHalfUploadAsync(server);
        await FinishUploadAndAssertEchoedAsync(uploader.GetStream());

        Assert.True((await server.Client.PostAsync("/buffered", new StringContent("body"))).IsSuccessStatusCode);
        await server.WaitForLogAsync("Buffering the request body of POST /buffered", Deadline, from);
        await server.WaitForLogAsync("The worker has answered POST /buffered; sending the buffered response", Deadline, from);
        var lines = server.Log.Split('\n').Skip(from).ToList();
        Assert.DoesNotContain(lines, l => l.Contains("[DEBUG]") && l.Contains("POST /stream/up"));
    }

    [Fact]
    public async Task StreamedUploadThatPauses_IsCutOffAfterClientBodyTimeout_AndFreesTheWorker()
    {
        await using var server = await GunicornServer.StartAsync(
            ["-w", "1", "--client-body-timeout", "1", "--unbuffered-path", "/stream", "@echo"]);
        // Half a body, then nothing: the one sync worker reads it as it comes and waits for the rest.
        using var uploader = await StartHalfUploadAsync(server);
        var stream = uploader.GetStream();
        await server.WaitForLogAsync(@"sent no body bytes of POST /stream/up for client_body_timeout \(1 s\); closed", Deadline);
        Assert.Equal(0, await CountBytesAsync(stream, upTo: 1));
        // The worker is free again (with one sync worker, this request would otherwise wait for the upload).
        Assert.Matches(@"^\d+$", await server.Client.GetStringAsync("/pid"));
    }

    /// <summary>
    /// send_timeout on every response path: a buffered proxied response, a streamed one, and a static file on the
    /// copying path (sendfile(2) bodies: SendfileTests). The client reads nothing after asking for 32 MiB.
    /// </summary>
    [Theory]
    [InlineData("buffered", "/bytes?count=33554432")]
    [InlineData("streamed", "/bytes?count=33554432")]
    [InlineData("static, copied", "/static/big.bin")]
    public async Task ClientThatStopsReading_IsCutOffAfterSendTimeout(string path, string target)
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-slow-").FullName;
        Directory.CreateDirectory(Path.Combine(dir, "public"));
        await File.WriteAllBytesAsync(Path.Combine(dir, "public", "big.bin"), new byte[33554432]);
        await using var server = await GunicornServer.StartAsync(["-w", "1", "--send-timeout", "1",
            "--response-buffering", path == "streamed" ? "false" : "true", "--no-sendfile", "--static", "/static=public", "@echo"], dir);
        using var reader = new TcpClient { ReceiveBufferSize = 4096 };
        await reader.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        await reader.GetStream().WriteAsync(Encoding.ASCII.GetBytes($"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n"));
        await server.WaitForLogAsync(@"read a response too slowly; closed after send_timeout \(1 s\)", Deadline);
        // What reached the socket buffers can still be read; then the connection ends short of 32 MiB.
        var total = await CountBytesAsync(reader.GetStream(), upTo: 33554432);
        Assert.True(total < 33554432, $"read {total} bytes");
        // The master goes on serving.
        Assert.Matches(@"^\d+$", await server.Client.GetStringAsync("/pid"));
    }

    [Fact]
    public async Task ClientsThatStopReading_AfterTheirResponseWasWritten_AreClosedAfterSendTimeout()
    {
        // Kestrel sees a response as written once a flush completes at once: up to 64 KiB may still wait in the
        // connection's pipe behind the kernel's full buffers. Those bytes are sent by the transport after the
        // connection's HTTP has ended, and must get through within send_timeout too. Which response size leaves
        // bytes in that window depends on how far the kernel grew its buffers: 80 sizes, 64 KiB apart, cover it
        // (before the fix, one of them held its connection open for as long as the client kept its window shut).
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-slow-").FullName;
        Directory.CreateDirectory(Path.Combine(dir, "public"));
        await File.WriteAllBytesAsync(Path.Combine(dir, "public", "big.bin"), new byte[6 * 1024 * 1024]);
        await using var server = await GunicornServer.StartAsync(["-w", "1", "--send-timeout", "1", "--keep-alive", "1",
            "--no-sendfile", "--static", "/static=public", "@echo"], dir);
        var readers = new List<Socket>();
        try
        {
            for (var i = 1; i <= 80; i++)
            {
                var reader = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
                readers.Add(reader);
                await reader.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
                await reader.SendAsync(Encoding.ASCII.GetBytes(
                    $"GET /static/big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-{i * 65536 - 1}\r\n\r\n"));
            }
            // None of them reads: each connection is closed by the front, none is held.
            await Eventually.True(() => ClientConnectionsHeldBy(server.Pid, server.BaseAddress.Port) == 0, Deadline,
                "the master to hold no client connection");
        }
        finally
        {
            readers.ForEach(r => r.Dispose());
        }
        Assert.Matches(@"^\d+$", await server.Client.GetStringAsync("/pid"));
    }

    /// <summary>The established TCP connections on <paramref name="port"/> that process <paramref name="pid"/> has open.</summary>
    private static int ClientConnectionsHeldBy(int pid, int port)
    {
        var established = new HashSet<string>();
        foreach (var line in File.ReadLines("/proc/net/tcp").Skip(1))
        {
            // sl local_address rem_address st ... inode: "0100007F:1F90 0100007F:D2A4 01 ... 12345"
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > 9 && fields[3] == "01" && Convert.ToInt32(fields[1].Split(':')[1], 16) == port)
            {
                established.Add($"socket:[{fields[9]}]");
            }
        }
        return Directory.GetFiles($"/proc/{pid}/fd").Count(fd =>
        {
            try
            {
                return new FileInfo(fd).LinkTarget is { } target && established.Contains(target);
            }
            catch (IOException)
            {
                return false; // closed while listed
            }
        });
    }

    /// <summary>Starts a POST to the streamed route /stream/up announcing ten body bytes and sends the first five, "half-".</summary>
    private static async Task<TcpClient> StartHalfUploadAsync(GunicornServer server)
    {
        var uploader = new TcpClient();
        await uploader.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        await uploader.GetStream().WriteAsync(Encoding.ASCII.GetBytes("POST /stream/up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf-"));
        return uploader;
    }

    /// <summary>Sends the rest of a "half-" upload and checks that the worker echoed all ten bytes.</summary>
    private static async Task FinishUploadAndAssertEchoedAsync(NetworkStream stream)
    {
        await stream.WriteAsync("done!"u8.ToArray());
        var reply = new byte[4096];
        var text = Encoding.ASCII.GetString(reply, 0, await stream.ReadAsync(reply).AsTask().WaitAsync(Deadline));
        Assert.StartsWith("HTTP/1.1 200", text);
        Assert.Contains(Convert.ToBase64String("half-done!"u8.ToArray()), text);
    }

    /// <summary>Reads until <paramref name="upTo"/> bytes, the end of the stream or a reset; returns the count.</summary>
    private static async Task<long> CountBytesAsync(NetworkStream stream, long upTo)
    {
        var total = 0L;
        var buffer = new byte[65536];
        try
        {
            int read;
            while (total < upTo && (read = await stream.ReadAsync(buffer).AsTask().WaitAsync(Deadline)) > 0)
            {
                total += read;
            }
        }
        catch (IOException)
        {
            // A reset ends the stream as a close does.
        }
        return total;
    }
}
