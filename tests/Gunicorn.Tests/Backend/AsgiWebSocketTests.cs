using System.Net;
using System.Text.Json;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Backend;

/// <summary>WebSockets through the front to the asgi worker (and refused for WSGI apps): RFC 6455 sessions on the worker's event loop.</summary>
public class AsgiWebSocketTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly string Apps = RepoPaths.Combine("tests", "apps");

    private static Task<GunicornServer> StartAsync(params string[] args) =>
        GunicornServer.StartAsync(["--python", "/usr/bin/python3", "--chdir", Apps, .. args]);

    /// <summary>A WebSocket handshake by hand, for frames a real client never sends; returns the stream after the 101.</summary>
    private static async Task<System.Net.Sockets.NetworkStream> RawWebSocketAsync(System.Net.Sockets.TcpClient tcp, int port)
    {
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(
            "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
        var head = new byte[4096];
        Assert.StartsWith("HTTP/1.1 101", System.Text.Encoding.ASCII.GetString(head, 0, await stream.ReadAsync(head)));
        return stream;
    }

    [Fact]
    public async Task CtlStatus_CountsEachWorkersOpenWebSockets()
    {
        await using var server = await StartAsync("-w", "1", "-k", "asgi", "asgi_apps:app");
        var uri = new Uri($"ws://127.0.0.1:{server.BaseAddress.Port}/ws");
        var sockets = new List<System.Net.WebSockets.ClientWebSocket>();
        for (var i = 0; i < 3; i++)
        {
            var socket = new System.Net.WebSockets.ClientWebSocket();
            await socket.ConnectAsync(uri, CancellationToken.None);
            sockets.Add(socket);
        }
        async Task<int> OpenWebSocketsAsync()
        {
            var result = await Binary.RunAsync(["ctl", "status", "--json"], server.WorkingDirectory);
            Assert.True(result.ExitCode == 0, result.Stderr);
            return JsonDocument.Parse(result.Stdout).RootElement.GetProperty("workers")[0].GetProperty("webSockets").GetInt32();
        }
        Assert.Equal(3, await OpenWebSocketsAsync());
        Assert.Contains("WEBSOCKETS", (await Binary.RunAsync(["ctl", "status"], server.WorkingDirectory)).Stdout);
        foreach (var socket in sockets)
        {
            await socket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
            socket.Dispose();
        }
        await Eventually.True(async () => await OpenWebSocketsAsync() == 0, Deadline, "no open WebSocket once they closed");
    }

    [Fact]
    public async Task WebSocketOverHttp2_ExtendedConnect_ReachesTheWorker()
    {
        // RFC 8441: the client opens the WebSocket as a stream of an HTTP/2 connection (here h2c, prior knowledge).
        await using var server = await StartAsync("-w", "1", "-k", "asgi", "--http-protocols", "h2", "asgi_apps:app");
        using var socket = new System.Net.WebSockets.ClientWebSocket();
        socket.Options.HttpVersion = HttpVersion.Version20;
        socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler());
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{server.BaseAddress.Port}/ws"), invoker, CancellationToken.None);
        await socket.SendAsync("over h2"u8.ToArray(), System.Net.WebSockets.WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[256];
        var reply = await socket.ReceiveAsync(buffer, CancellationToken.None);
        Assert.Equal("echo: over h2", System.Text.Encoding.UTF8.GetString(buffer, 0, reply.Count));
        await socket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
    }

    [Fact]
    public async Task MasterGracefulStop_ClosesOpenWebSocketsWith1001_WithoutWaitingForTheTimeout()
    {
        await using var server = await StartAsync("-w", "1", "-k", "asgi", "--graceful-timeout", "20", "asgi_apps:app");
        using var socket = new System.Net.WebSockets.ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{server.BaseAddress.Port}/ws"), CancellationToken.None);
        var started = System.Diagnostics.Stopwatch.StartNew();
        server.Signal(Signals.TERM);
        var received = await socket.ReceiveAsync(new byte[256], CancellationToken.None).WaitAsync(Deadline);
        Assert.Equal(System.Net.WebSockets.WebSocketMessageType.Close, received.MessageType);
        Assert.Equal((System.Net.WebSockets.WebSocketCloseStatus)1001, socket.CloseStatus);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(10), $"the close came {started.Elapsed.TotalSeconds:0.0} s after TERM, not at once");
        await socket.CloseOutputAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        Assert.Equal(0, await server.WaitForExitAsync(Deadline));
    }

    [Fact]
    public async Task WebSockets_EndToEnd_TextBytesSubprotocolCloseAndDenial()
    {
        await using var server = await StartAsync("-w", "1", "-k", "asgi", "asgi_apps:app");
        var port = server.BaseAddress.Port;
        using var socket = new System.Net.WebSockets.ClientWebSocket();
        socket.Options.AddSubProtocol("chat");
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/ws"), CancellationToken.None);
        Assert.Equal("chat", socket.SubProtocol);
        var buffer = new byte[200_000];

        await socket.SendAsync("hello"u8.ToArray(), System.Net.WebSockets.WebSocketMessageType.Text, true, CancellationToken.None);
        var text = await socket.ReceiveAsync(buffer, CancellationToken.None);
        Assert.Equal("echo: hello", System.Text.Encoding.UTF8.GetString(buffer, 0, text.Count));

        // A 1 MiB binary message comes back reversed, whole.
        var payload = Enumerable.Range(0, 1 << 20).Select(i => (byte)i).ToArray();
        await socket.SendAsync(payload, System.Net.WebSockets.WebSocketMessageType.Binary, true, CancellationToken.None);
        var received = new List<byte>();
        System.Net.WebSockets.WebSocketReceiveResult part;
        do
        {
            part = await socket.ReceiveAsync(buffer, CancellationToken.None);
            received.AddRange(buffer.AsSpan(0, part.Count).ToArray());
        }
        while (!part.EndOfMessage);
        Assert.Equal(System.Net.WebSockets.WebSocketMessageType.Binary, part.MessageType);
        Assert.Equal(payload.Reverse(), received);

        // Ordinary requests are served meanwhile by the same worker.
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/items/3")).StatusCode);

        // The app closes with its own code and reason.
        await socket.SendAsync("close please"u8.ToArray(), System.Net.WebSockets.WebSocketMessageType.Text, true, CancellationToken.None);
        var closing = await socket.ReceiveAsync(buffer, CancellationToken.None);
        Assert.Equal(System.Net.WebSockets.WebSocketMessageType.Close, closing.MessageType);
        Assert.Equal((System.Net.WebSockets.WebSocketCloseStatus)4000, socket.CloseStatus);
        Assert.Equal("asked to", socket.CloseStatusDescription);

        // Closing before accepting denies the handshake: 403, as uvicorn answers.
        using var denied = new System.Net.WebSockets.ClientWebSocket();
        var refusal = await Assert.ThrowsAsync<System.Net.WebSockets.WebSocketException>(
            () => denied.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/private"), CancellationToken.None));
        Assert.Contains("403", refusal.Message);
    }

    [Fact]
    public async Task ManyWebSockets_OnOneWorker_AndMalformedFramesClosedWith1002()
    {
        await using var server = await StartAsync("-w", "1", "-k", "asgi", "asgi_apps:app");
        var uri = new Uri($"ws://127.0.0.1:{server.BaseAddress.Port}/ws");
        var sockets = await Task.WhenAll(Enumerable.Range(0, 200).Select(async _ =>
        {
            var socket = new System.Net.WebSockets.ClientWebSocket();
            await socket.ConnectAsync(uri, CancellationToken.None);
            return socket;
        }));
        await Task.WhenAll(sockets.Select(async (socket, i) =>
        {
            var buffer = new byte[256];
            await socket.SendAsync(System.Text.Encoding.UTF8.GetBytes($"n{i}"), System.Net.WebSockets.WebSocketMessageType.Text, true, CancellationToken.None);
            var reply = await socket.ReceiveAsync(buffer, CancellationToken.None);
            Assert.Equal($"echo: n{i}", System.Text.Encoding.UTF8.GetString(buffer, 0, reply.Count));
        }));
        foreach (var socket in sockets)
        {
            await socket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
            socket.Dispose();
        }

        // A frame the client did not mask breaks RFC 6455: the worker closes with 1002, and keeps serving.
        using var tcp = new System.Net.Sockets.TcpClient();
        var stream = await RawWebSocketAsync(tcp, server.BaseAddress.Port);
        await stream.WriteAsync(new byte[] { 0x81, 0x02, (byte)'h', (byte)'i' }); // text "hi", unmasked
        var close = new byte[16];
        var closeLength = await stream.ReadAsync(close);
        Assert.True(closeLength >= 4, $"{closeLength} bytes");
        Assert.Equal(0x88, close[0]);
        Assert.Equal(1002, (close[2] << 8) | close[3]);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/items/1")).StatusCode);
    }

    [Fact]
    public async Task WebSocketLimits_MaxMessageSize1009_AndAnUnansweredPing1011()
    {
        await using var server = await StartAsync("-w", "1", "-k", "asgi", "--websocket-max-message-size", "1000",
            "--websocket-ping-interval", "0.2", "--websocket-ping-timeout", "0.3", "asgi_apps:app");
        using (var socket = new System.Net.WebSockets.ClientWebSocket())
        {
            await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{server.BaseAddress.Port}/ws"), CancellationToken.None);
            await socket.SendAsync(new byte[2000], System.Net.WebSockets.WebSocketMessageType.Binary, true, CancellationToken.None);
            var reply = await socket.ReceiveAsync(new byte[64], CancellationToken.None);
            Assert.Equal(System.Net.WebSockets.WebSocketMessageType.Close, reply.MessageType);
            Assert.Equal(System.Net.WebSockets.WebSocketCloseStatus.MessageTooBig, socket.CloseStatus);
        }

        // A client that never answers pings: a ping arrives, then the close with 1011.
        using var tcp = new System.Net.Sockets.TcpClient();
        var stream = await RawWebSocketAsync(tcp, server.BaseAddress.Port);
        var frames = new List<byte>();
        var buffer = new byte[256];
        using var deadline = new CancellationTokenSource(Deadline);
        while (!(frames.Count >= 4 && frames.Contains(0x88)))
        {
            var read = await stream.ReadAsync(buffer, deadline.Token);
            Assert.True(read > 0, "the connection closed before the close frame");
            frames.AddRange(buffer.AsSpan(0, read).ToArray());
        }
        Assert.Equal(0x89, frames[0]); // the ping came first
        var close = frames.IndexOf(0x88);
        Assert.True(frames.Count >= close + 4, "a close frame with its code");
        Assert.Equal(1011, (frames[close + 2] << 8) | frames[close + 3]);
    }

    [Fact]
    public async Task OpenWebSockets_GetGoingAway1001_WhenAReloadRetiresTheirWorker()
    {
        await using var server = await StartAsync("-w", "1", "-k", "asgi", "--graceful-timeout", "1", "asgi_apps:app");
        using var socket = new System.Net.WebSockets.ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{server.BaseAddress.Port}/ws"), CancellationToken.None);
        var from = server.LineCount;
        server.Signal(Signals.HUP);
        await server.WaitForLogAsync("Reload complete", Deadline, from);
        using var deadline = new CancellationTokenSource(Deadline);
        var reply = await socket.ReceiveAsync(new byte[64], deadline.Token);
        Assert.Equal(System.Net.WebSockets.WebSocketMessageType.Close, reply.MessageType);
        Assert.Equal(System.Net.WebSockets.WebSocketCloseStatus.EndpointUnavailable, socket.CloseStatus);
        // The client reconnects to the new generation.
        using var again = new System.Net.WebSockets.ClientWebSocket();
        await again.ConnectAsync(new Uri($"ws://127.0.0.1:{server.BaseAddress.Port}/ws"), CancellationToken.None);
        Assert.Equal(System.Net.WebSockets.WebSocketState.Open, again.State);
    }

    [Fact]
    public async Task WebSocketToAWsgiApp_IsRefusedWith501()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "1", "@echo"]);
        using var socket = new System.Net.WebSockets.ClientWebSocket();
        var refusal = await Assert.ThrowsAsync<System.Net.WebSockets.WebSocketException>(
            () => socket.ConnectAsync(new Uri($"ws://127.0.0.1:{server.BaseAddress.Port}/ws"), CancellationToken.None));
        Assert.Contains("501", refusal.Message);
    }
}
