using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Backend;

/// <summary>
/// The WSGI worker's own HTTP/1.1 server, spoken to directly on its Unix socket (as the front does), and its life
/// under the master: a sync request beyond timeout is killed as in gunicorn, TERM lets the request in flight finish.
/// </summary>
public class WsgiWorkerTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static async Task<(GunicornServer Server, string Socket)> StartAsync(params string[] args)
    {
        var runtime = Directory.CreateTempSubdirectory("gunicorn-net-wsgi-worker-").FullName;
        var server = await GunicornServer.StartAsync(["--python", "/usr/bin/python3", "--chdir", RepoPaths.Combine("tests", "apps"),
            "--worker-tmp-dir", runtime, "-w", "1", .. args]);
        var socket = Directory.EnumerateFiles(runtime, "*.sock", SearchOption.AllDirectories).Single();
        return (server, socket);
    }

    private static async Task<Socket> ConnectAsync(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
        return socket;
    }

    private static async Task<bool> ClosedByPeerAsync(Socket socket)
    {
        var buffer = new byte[1];
        return await socket.ReceiveAsync(buffer).WaitAsync(Deadline) == 0;
    }

    [Fact]
    public async Task ChunkedBodyWithExpectContinue_AndRepeatedHeaders_OnOneKeepAliveConnection()
    {
        var (server, path) = await StartAsync("wsgi_conformance:validated");
        await using var _ = server;
        using var socket = await ConnectAsync(path);
        await socket.SendAsync(Encoding.ASCII.GetBytes(
            "POST /upload HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n" +
            "X-Test: first\r\nX-Test: second\r\n\r\n"));
        var interim = new byte[64];
        var n = await socket.ReceiveAsync(interim).WaitAsync(Deadline);
        Assert.StartsWith("HTTP/1.1 100 Continue\r\n\r\n", Encoding.ASCII.GetString(interim, 0, n));
        await socket.SendAsync(Encoding.ASCII.GetBytes("5\r\nhello\r\n6;name=value\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"));
        var (head, body) = await OneResponse.ReadAsync(socket, Deadline);
        Assert.StartsWith("HTTP/1.1 200 OK", head);
        var seen = JsonDocument.Parse(body).RootElement;
        Assert.Equal(11, seen.GetProperty("body_length").GetInt32());
        // As in gunicorn: a chunked body is read as it streams, so there is no CONTENT_LENGTH.
        Assert.Equal(JsonValueKind.Null, seen.GetProperty("content_length").ValueKind);
        Assert.Equal("first,second", seen.GetProperty("x_test").GetString());

        await socket.SendAsync(Encoding.ASCII.GetBytes("GET /again?q=1 HTTP/1.1\r\nHost: w\r\n\r\n"));
        (head, body) = await OneResponse.ReadAsync(socket, Deadline);
        Assert.StartsWith("HTTP/1.1 200 OK", head);
        Assert.Equal("q=1", JsonDocument.Parse(body).RootElement.GetProperty("query").GetString());
    }

    [Fact]
    public async Task MalformedRequest_Gets400AndClose_AndTheWorkerKeepsServing()
    {
        var (server, path) = await StartAsync("wsgi_conformance:validated");
        await using var _ = server;
        var worker = server.WorkerPids().Single();
        using (var socket = await ConnectAsync(path))
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes("NONSENSE\r\nHost: w\r\n\r\n"));
            var (head, _) = await OneResponse.ReadAsync(socket, Deadline);
            Assert.StartsWith("HTTP/1.1 400 Bad Request", head);
            Assert.True(await ClosedByPeerAsync(socket));
        }
        using (var socket = await ConnectAsync(path))
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes("GET /fine HTTP/1.0\r\nHost: w\r\n\r\n"));
            var (head, _) = await OneResponse.ReadAsync(socket, Deadline);
            Assert.StartsWith("HTTP/1.1 200 OK", head);
            Assert.Contains("Connection: close", head);
            Assert.True(await ClosedByPeerAsync(socket), "HTTP/1.0 without keep-alive ends the connection");
        }
        Assert.Equal([worker], server.WorkerPids());
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/through-the-front")).StatusCode);
    }

    [Fact]
    public async Task SyncRequestLongerThanTimeout_IsAWorkerTimeout_504_AndTheWorkerIsReplaced()
    {
        var (server, _) = await StartAsync("--timeout", "2", "threads:app");
        await using var _ = server;
        var worker = server.WorkerPids().Single();
        var from = server.LineCount;
        var response = await server.Client.GetAsync("/?30").WaitAsync(Deadline);
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        await server.WaitForLogAsync($@"WORKER TIMEOUT \(pid:{worker}\) while serving GET /", Deadline, from);
        await Eventually.True(() => server.WorkerPids() is [var replacement] && replacement != worker, Deadline, "a replacement worker");
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/?0")).StatusCode);
    }

    [Fact]
    public async Task Term_WithAWsgiRequestInFlight_AnswersIt_AndExitsZero()
    {
        var (server, _) = await StartAsync("threads:app");
        await using var _ = server;
        var from = server.LineCount;
        var slow = server.Client.GetAsync("/?1.5");
        await server.WaitForLogAsync(@"sleeping 1\.5 s", Deadline, from);
        server.Signal(Signals.TERM);
        var response = await slow.WaitAsync(Deadline);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, await server.WaitForExitAsync(Deadline));
    }
}
