using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Front;

/// <summary>
/// Static file bodies through sendfile(2) on plaintext HTTP/1.1 (nginx's <c>sendfile on</c>), the copying path over
/// TLS and with <c>--no-sendfile</c>, and a file that shrinks while it is being sent. <c>ctl status</c>'s
/// <c>sendfileBytes</c> (the bytes the front's sendfile calls sent) tells which path a body took.
/// </summary>
public class SendfileTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private const int OneMiB = 1024 * 1024;

    /// <summary>A site with a 1 MiB and a 100 MiB file of random bytes under /s/.</summary>
    private static (string Dir, byte[] Small, string LargePath) Site(string config = "")
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-sendfile-").FullName;
        var pub = Directory.CreateDirectory(Path.Combine(dir, "public")).FullName;
        var small = RandomNumberGenerator.GetBytes(OneMiB);
        File.WriteAllBytes(Path.Combine(pub, "one.bin"), small);
        var large = Path.Combine(pub, "hundred.bin");
        using (var file = File.Create(large))
        {
            var block = new byte[OneMiB];
            for (var i = 0; i < 100; i++)
            {
                // Each MiB differs, so a misplaced or repeated chunk cannot compare equal.
                RandomNumberGenerator.Fill(block);
                file.Write(block);
            }
        }
        File.WriteAllText(Path.Combine(dir, "gunicorn.yaml"), "static:\n  /s: public\n" + config);
        return (dir, small, large);
    }

    private static async Task<long> SendfileBytesAsync(GunicornServer server)
    {
        var result = await Binary.RunAsync(["ctl", "status", "--json"], server.WorkingDirectory);
        Assert.True(result.ExitCode == 0, result.Stderr);
        return JsonDocument.Parse(result.Stdout).RootElement.GetProperty("sendfileBytes").GetInt64();
    }

    [Fact]
    public async Task Plaintext_FilesAndRangesAreByteExact_AndLeaveThroughSendfile()
    {
        var (dir, small, largePath) = Site("accesslog: \"-\"\n");
        await using var server = await GunicornServer.StartAsync(["@hello"], dir);
        var before = await SendfileBytesAsync(server);

        Assert.Equal(small, await server.Client.GetByteArrayAsync("/s/one.bin"));
        var large = await server.Client.GetByteArrayAsync("/s/hundred.bin");
        Assert.True(large.AsSpan().SequenceEqual(File.ReadAllBytes(largePath)), "the 100 MiB body differs from the file");

        var ranged = new HttpRequestMessage(HttpMethod.Get, "/s/hundred.bin");
        ranged.Headers.Range = new RangeHeaderValue(50 * OneMiB - 7, 53 * OneMiB + 11);
        var partial = await server.Client.SendAsync(ranged);
        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        var expected = new byte[3 * OneMiB + 19];
        using (var file = File.OpenRead(largePath))
        {
            file.Position = 50 * OneMiB - 7;
            file.ReadExactly(expected);
        }
        Assert.Equal(expected, await partial.Content.ReadAsByteArrayAsync());

        // Every file byte went through sendfile, none was copied through the front.
        Assert.Equal(OneMiB + 100L * OneMiB + expected.Length, await SendfileBytesAsync(server) - before);
        // The access log still counts the bodies.
        await server.WaitForLogAsync(@"""GET /s/hundred\.bin HTTP/1\.1"" 200 104857600 ", Deadline);
    }

    [Fact]
    public async Task KeepAliveConnection_GoesOnAfterAFileBody_WithProxiedAndPipelinedRequests()
    {
        var (dir, small, _) = Site();
        await using var server = await GunicornServer.StartAsync(["@hello"], dir);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        // Three requests in one write: the file's body must sit between the other two answers, in order.
        await socket.SendAsync(Encoding.ASCII.GetBytes(
            "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /s/one.bin HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        var received = await ReadToEndAsync(socket);

        var first = IndexOf(received, "HTTP/1.1 200"u8, 0);
        var second = IndexOf(received, "HTTP/1.1 200"u8, first + 1);
        var bodyStart = IndexOf(received, "\r\n\r\n"u8, second) + 4;
        Assert.True(received.AsSpan(bodyStart, OneMiB).SequenceEqual(small), "the file body is not exactly between the answers");
        var third = received.AsSpan(bodyStart + OneMiB);
        Assert.StartsWith("HTTP/1.1 200", Encoding.ASCII.GetString(third[..12]));
        Assert.Contains("Hello from gunicorn-net", Encoding.ASCII.GetString(third));
    }

    [Fact]
    public async Task Tls_CopiesTheFile_ByteExact()
    {
        var (dir, small, largePath) = Site();
        TlsTests.WriteSelfSignedPem(dir);
        await using var server = await GunicornServer.StartAsync(
            ["--certfile", "cert.pem", "--keyfile", "key.pem", "@hello"], dir, waitForReady: false);
        var port = (await server.WaitForLogAsync(@"Listening at: https://127\.0\.0\.1:(\d+)", Deadline)).Groups[1].Value;
        await server.WaitForLogAsync(@"All \d+ workers ready", Deadline);
        using var client = new HttpClient(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true } });
        var before = await SendfileBytesAsync(server);

        Assert.Equal(small, await client.GetByteArrayAsync($"https://127.0.0.1:{port}/s/one.bin"));
        var large = await client.GetByteArrayAsync($"https://127.0.0.1:{port}/s/hundred.bin");
        Assert.True(large.AsSpan().SequenceEqual(File.ReadAllBytes(largePath)), "the 100 MiB body differs from the file");
        Assert.Equal(before, await SendfileBytesAsync(server)); // TLS encrypts in user space: no sendfile
    }

    [Fact]
    public async Task NoSendfile_CopiesTheFile()
    {
        var (dir, small, _) = Site();
        await using var server = await GunicornServer.StartAsync(["--no-sendfile", "@hello"], dir);
        Assert.Equal(small, await server.Client.GetByteArrayAsync("/s/one.bin"));
        Assert.Equal(0, await SendfileBytesAsync(server));
    }

    [Fact]
    public async Task FileThatShrinksWhileSent_ClosesTheConnection_NeverEndsTheBodyEarly()
    {
        var (dir, _, largePath) = Site();
        await using var server = await GunicornServer.StartAsync(["@hello"], dir);
        using var socket = await SlowClientAsync(server, "GET /s/hundred.bin HTTP/1.1\r\nHost: x\r\n\r\n");
        var head = new byte[512];
        var headLength = await socket.ReceiveAsync(head);
        Assert.StartsWith("HTTP/1.1 200", Encoding.ASCII.GetString(head, 0, headLength));

        using (var file = new FileStream(largePath, FileMode.Open, FileAccess.Write))
        {
            file.SetLength(10 * OneMiB);
        }
        var rest = await ReadToEndAsync(socket);
        var body = headLength - (IndexOf(head.AsSpan(0, headLength).ToArray(), "\r\n\r\n"u8, 0) + 4) + rest.Length;
        // The connection closed with the body short of its Content-Length: the client knows it is truncated.
        Assert.InRange(body, 1, 100L * OneMiB - 1);

        // The master goes on serving.
        Assert.StartsWith("Hello from gunicorn-net", await server.Client.GetStringAsync("/"));
    }

    [Fact]
    public async Task ClientsThatResetRightAfterAskingForAFile_LeaveNoOpenFileBehind()
    {
        // A reset that lands between the request and its head fails the head's send: the file asked for next must
        // still be answered (and closed), not wait for a send loop that is gone. 300 tries hit that window dozens of
        // times on the reference machine (24 files left open before the fix).
        var (dir, small, _) = Site();
        await using var server = await GunicornServer.StartAsync(["@hello"], dir);
        Assert.Equal(small, await server.Client.GetByteArrayAsync("/s/one.bin"));
        var request = Encoding.ASCII.GetBytes("GET /s/one.bin HTTP/1.1\r\nHost: x\r\n\r\n");
        for (var i = 0; i < 300; i++)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
            await socket.SendAsync(request);
            if (i % 2 == 1)
            {
                await socket.ReceiveAsync(new byte[1]); // the head has started: the reset lands during the file
            }
            socket.LingerState = new LingerOption(true, 0); // close sends RST
            socket.Close();
        }

        await Eventually.True(() => OpenDescriptorsOf(server.Pid, "one.bin") == 0, Deadline,
            "every descriptor of the file asked for to be closed");
        Assert.Equal(small, await server.Client.GetByteArrayAsync("/s/one.bin"));
    }

    private static int OpenDescriptorsOf(int pid, string fileName) =>
        Directory.GetFiles($"/proc/{pid}/fd").Count(fd =>
        {
            try
            {
                return new FileInfo(fd).LinkTarget?.EndsWith(fileName, StringComparison.Ordinal) == true;
            }
            catch (IOException)
            {
                return false; // closed while listed
            }
        });

    [Fact]
    public async Task ClientThatStopsReadingAFile_IsCutOffAfterSendTimeout()
    {
        var (dir, _, _) = Site();
        await using var server = await GunicornServer.StartAsync(["--send-timeout", "1", "@hello"], dir);
        using var socket = await SlowClientAsync(server, "GET /s/hundred.bin HTTP/1.1\r\nHost: x\r\n\r\n");
        var head = new byte[512];
        var headLength = await socket.ReceiveAsync(head);
        Assert.StartsWith("HTTP/1.1 200", Encoding.ASCII.GetString(head, 0, headLength));

        // The client reads nothing more: well before the 60 s default, the front gives up on it.
        await server.WaitForLogAsync(@"read a file too slowly; closed after send_timeout \(1 s\)", Deadline);
        var rest = await ReadToEndAsync(socket);
        Assert.InRange(headLength + rest.Length, 1, 100L * OneMiB - 1);
        Assert.StartsWith("Hello from gunicorn-net", await server.Client.GetStringAsync("/"));
    }

    [Fact]
    public async Task SlowButSteadyReader_GetsTheWholeFile_ThoughEachChunkOutlastsSendTimeout()
    {
        var (dir, _, largePath) = Site();
        await using var server = await GunicornServer.StartAsync(["--send-timeout", "0.5", "@hello"], dir);
        const int length = 4 * OneMiB;
        using var socket = await SlowClientAsync(server,
            $"GET /s/hundred.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-{length - 1}\r\nConnection: close\r\n\r\n");

        // About 1 MiB/s: a 2 MiB sendfile chunk takes about two seconds, four send_timeouts, while bytes keep moving.
        // nginx's send_timeout runs between two writes that make progress, not over a whole chunk.
        var response = await ReadPacedAsync(socket, bytesPerTick: 16 * 1024, tick: TimeSpan.FromMilliseconds(15));
        var bodyAt = IndexOf(response, "\r\n\r\n"u8, 0) + 4;
        Assert.StartsWith("HTTP/1.1 206", Encoding.ASCII.GetString(response, 0, bodyAt));
        var expected = new byte[length];
        await using (var file = File.OpenRead(largePath))
        {
            await file.ReadExactlyAsync(expected);
        }
        Assert.True(response.AsSpan(bodyAt).SequenceEqual(expected), $"the body differs from the file's first 4 MiB ({response.Length - bodyAt} bytes)");
        Assert.DoesNotContain("too slowly", server.Log);
    }

    /// <summary>
    /// A client with a small receive buffer that has sent <paramref name="request"/>: the front's sendfile soon waits
    /// for it whenever it reads slowly, or not at all.
    /// </summary>
    private static async Task<Socket> SlowClientAsync(GunicornServer server, string request)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 64 * 1024 };
        await socket.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        await socket.SendAsync(Encoding.ASCII.GetBytes(request));
        return socket;
    }

    /// <summary>Reads at most <paramref name="bytesPerTick"/> a tick until the server closes the connection.</summary>
    private static async Task<byte[]> ReadPacedAsync(Socket socket, int bytesPerTick, TimeSpan tick)
    {
        using var deadline = new CancellationTokenSource(Deadline);
        using var pace = new PeriodicTimer(tick);
        var received = new MemoryStream();
        var buffer = new byte[bytesPerTick];
        int read;
        do
        {
            await pace.WaitForNextTickAsync(deadline.Token);
            read = await socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token);
            received.Write(buffer, 0, read);
        }
        while (read > 0);
        return received.ToArray();
    }

    /// <summary>Reads until the server closes the connection, or resets it (within the deadline).</summary>
    private static async Task<byte[]> ReadToEndAsync(Socket socket)
    {
        using var deadline = new CancellationTokenSource(Deadline);
        var received = new MemoryStream();
        var buffer = new byte[256 * 1024];
        try
        {
            int read;
            while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token)) > 0)
            {
                received.Write(buffer, 0, read);
            }
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            // An aborted connection: closed all the same.
        }
        return received.ToArray();
    }

    private static int IndexOf(byte[] haystack, ReadOnlySpan<byte> needle, int from)
    {
        var at = haystack.AsSpan(from).IndexOf(needle);
        Assert.True(at >= 0, $"'{Encoding.ASCII.GetString(needle)}' not found after byte {from}");
        return from + at;
    }
}
