using System.Net;
using System.Text.Json;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Backend;

/// <summary>worker_class asgi: FastAPI and raw ASGI apps on Debian's python3, one event loop per worker.</summary>
public class AsgiTests
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

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
    }

    [Fact]
    public async Task FastApi_ServesRoutesBodiesAndStreams_AfterItsStartup()
    {
        await using var server = await StartAsync("-w", "1", "-k", "asgi", "--root-path", "/api", "asgi_apps:app");
        var item = await JsonAsync(await server.Client.GetAsync("/items/7?q=x"));
        Assert.Equal(7, item.GetProperty("item_id").GetInt32());
        Assert.Equal("x", item.GetProperty("q").GetString());
        Assert.Equal("yes", item.GetProperty("started").GetString()); // lifespan startup ran before the first request

        var echo = await JsonAsync(await server.Client.PostAsync("/echo", new ByteArrayContent(new byte[100_000])));
        Assert.Equal(100_000, echo.GetProperty("length").GetInt32());
        Assert.Equal("/api", echo.GetProperty("root_path").GetString());
        Assert.Equal("127.0.0.1", echo.GetProperty("client").GetString());
        Assert.Equal("1.1", echo.GetProperty("http_version").GetString());

        Assert.Equal("chunk 0\nchunk 1\nchunk 2\n", await server.Client.GetStringAsync("/stream"));
        Assert.Equal(HttpStatusCode.NotFound, (await server.Client.GetAsync("/missing")).StatusCode);

        var failed = await server.Client.GetAsync("/fail");
        Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        await server.WaitForLogAsync("the ASGI app failed on purpose", Deadline);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/items/1")).StatusCode);
    }

    [Fact]
    public async Task FastApiSample_AsTheReadmeRunsIt()
    {
        await using var server = await GunicornServer.StartAsync(
            ["--python", "/usr/bin/python3", "-w", "2", "-k", "asgi", "--chdir", RepoPaths.Combine("samples", "fastapi"), "main:app"]);
        Assert.Equal("hello from FastAPI on gunicorn-net", (await JsonAsync(await server.Client.GetAsync("/"))).GetProperty("message").GetString());
        Assert.Equal(3, (await JsonAsync(await server.Client.GetAsync("/items/3?q=a"))).GetProperty("item_id").GetInt32());
        var created = await server.Client.PostAsync("/items",
            new StringContent("{\"name\": \"widget\", \"price\": 10}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(12.0, (await JsonAsync(created)).GetProperty("price_with_tax").GetDouble());
        Assert.Equal(HttpStatusCode.UnprocessableEntity, (await server.Client.PostAsync("/items",
            new StringContent("{\"name\": 1}", System.Text.Encoding.UTF8, "application/json"))).StatusCode);
        Assert.Equal("5\n4\n3\n2\n1\nliftoff\n", await server.Client.GetStringAsync("/countdown"));
        // The background task ran after the response, in whichever worker served it: ask until that one answers.
        await Eventually.True(async () => (await server.Client.GetStringAsync("/events")).Contains("created widget"), Deadline, "the background task");
    }

    [Fact]
    public async Task ClientGoneDuringAStream_TheAppStops_AndATruncatedResponseNeverLooksComplete()
    {
        var mark = Path.Combine(Directory.CreateTempSubdirectory("gunicorn-net-asgi-disconnect-").FullName, "stopped.txt");
        await using (var server = await StartAsync("-w", "1", "-k", "asgi", "--response-buffering", "false",
                         "-e", $"ASGI_DISCONNECT_MARK={mark}", "asgi_apps:app"))
        {
            using (var response = await server.Client.GetAsync("/forever", HttpCompletionOption.ResponseHeadersRead))
            {
                var stream = await response.Content.ReadAsStreamAsync();
                var buffer = new byte[1000];
                Assert.True(await stream.ReadAsync(buffer) > 0);
            }
            // The client hung up: the worker's send fails, the app's stream ends (StreamingResponse hears
            // http.disconnect), and the worker serves on.
            await Eventually.True(() => File.Exists(mark), Deadline, "the app to stop streaming");
            Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/items/1")).StatusCode);
        }

        await using var truncating = await StartAsync("-w", "1", "-k", "asgi", "asgi_apps:truncating");
        try
        {
            var response = await truncating.Client.GetAsync("/");
            Assert.NotEqual(HttpStatusCode.OK, response.StatusCode);
        }
        catch (HttpRequestException)
        {
            // The connection was cut: also never a complete response.
        }
        await truncating.WaitForLogAsync("returned before finishing its response body", Deadline);
    }

    [Fact]
    public async Task Scope_IsBuiltFromTheRequestHead_AsAsgiServersGiveIt()
    {
        await using var server = await StartAsync("-w", "1", "-k", "asgi", "asgi_apps:probe");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/caf%C3%A9/x?a=1&b=%20");
        request.Headers.Add("X-Custom-Thing", "Yes");
        var scope = await JsonAsync(await server.Client.SendAsync(request));
        Assert.Equal("/café/x", scope.GetProperty("path").GetString());
        Assert.Equal("/caf%C3%A9/x", scope.GetProperty("raw_path").GetString());
        Assert.Equal("a=1&b=%20", scope.GetProperty("query_string").GetString());
        Assert.Equal("GET", scope.GetProperty("method").GetString());
        Assert.Equal("http", scope.GetProperty("scheme").GetString());
        Assert.Equal("127.0.0.1", scope.GetProperty("client")[0].GetString());
        Assert.Equal(server.BaseAddress.Port, scope.GetProperty("server")[1].GetInt32());
        Assert.Equal(["http.response.pathsend"], scope.GetProperty("extensions").EnumerateArray().Select(e => e.GetString()));
        var headers = scope.GetProperty("headers").EnumerateArray().Select(h => (Name: h[0].GetString()!, Value: h[1].GetString())).ToList();
        Assert.Contains(("x-custom-thing", "Yes"), headers);
        Assert.All(headers, h => Assert.Equal(h.Name.ToLowerInvariant(), h.Name));
        // The front's own header naming the client is the worker's business, not the app's.
        Assert.DoesNotContain(headers, h => h.Name == Gunicorn.Shared.Contract.WorkerContract.PeerHeader.ToLowerInvariant());
    }

    [Fact]
    public async Task SlowChunkedUpload_ReachesTheAppInMessages_WhileTheLoopServesOthers()
    {
        await using var server = await StartAsync("-w", "1", "-k", "asgi", "--request-buffering", "false", "asgi_apps:probe");
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, server.BaseAddress.Port);
        var stream = tcp.GetStream();
        var ascii = System.Text.Encoding.ASCII;
        await stream.WriteAsync(ascii.GetBytes("POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n" + new string('a', 4096) + "\r\n"));
        // The upload is held open: the worker's one event loop must answer other requests meanwhile.
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("/other", (await JsonAsync(await server.Client.GetAsync("/other"))).GetProperty("path").GetString());
        }
        await stream.WriteAsync(ascii.GetBytes("800\r\n" + new string('b', 2048) + "\r\n0\r\n\r\n"));
        using var reader = new StreamReader(stream, ascii);
        var response = await reader.ReadToEndAsync().WaitAsync(Deadline);
        Assert.StartsWith("HTTP/1.1 200", response);
        var result = JsonDocument.Parse(response[(response.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..].Trim()).RootElement;
        Assert.Equal(6144, result.GetProperty("bytes").GetInt32());
        Assert.True(result.GetProperty("messages").GetInt32() >= 2, "the body came in more than one http.request message");
    }

    [Fact]
    public async Task PathSend_SendsTheFileWhole()
    {
        var file = Path.Combine(Directory.CreateTempSubdirectory("gunicorn-net-asgi-pathsend-").FullName, "data.bin");
        var bytes = new byte[3 * 1024 * 1024 + 17];
        new Random(7).NextBytes(bytes);
        File.WriteAllBytes(file, bytes);
        await using var server = await StartAsync("-w", "1", "-k", "asgi", "asgi_apps:probe");
        Assert.Equal(bytes, await server.Client.GetByteArrayAsync("/file?" + file));
    }

    [Fact]
    public async Task AnAppThatBlocksTheEventLoop_IsAWorkerTimeout_AndItsWorkerIsReplaced()
    {
        await using var server = await StartAsync("-w", "1", "-k", "asgi", "-t", "3", "asgi_apps:probe");
        var worker = server.WorkerPids().Single();
        var blocked = server.Client.GetAsync("/block?60");
        await server.WaitForLogAsync($"WORKER TIMEOUT \\(pid:{worker}\\)", Deadline);
        Assert.NotEqual(HttpStatusCode.OK, (await blocked.WaitAsync(Deadline)).StatusCode);
        await Eventually.True(() => server.WorkerPids() is [var replacement] && replacement != worker, Deadline, "a new worker");
        Assert.Equal("/after", (await JsonAsync(await server.Client.GetAsync("/after"))).GetProperty("path").GetString());
    }

    [Fact]
    public async Task DjangoSample_ThroughItsAsgiHandler()
    {
        await using var server = await GunicornServer.StartAsync(
            ["--python", "/usr/bin/python3", "-w", "1", "-k", "asgi", "--chdir", RepoPaths.Combine("samples", "django"), "mysite.asgi"]);
        Assert.Contains("Django on gunicorn-net", await server.Client.GetStringAsync("/"));
        var posted = await server.Client.PostAsync("/form", new FormUrlEncodedContent([KeyValuePair.Create("name", "Ann")]));
        Assert.Equal("Hello, Ann!", await posted.Content.ReadAsStringAsync());
        Assert.Equal("async hello over ASGI", await server.Client.GetStringAsync("/async"));
        Assert.Equal(HttpStatusCode.NotFound, (await server.Client.GetAsync("/missing")).StatusCode);
    }

    [Fact]
    public async Task ClientsThatLeave_AreHeardAsHttpDisconnect_AndLeaveNoTaskBehind()
    {
        await using var server = await StartAsync("-w", "1", "-k", "asgi", "--response-buffering", "false", "asgi_apps:probe");
        var before = (await JsonAsync(await server.Client.GetAsync("/tasks"))).GetProperty("tasks").GetInt32();
        for (var i = 0; i < 20; i++)
        {
            using var client = new HttpClient { BaseAddress = server.BaseAddress };
            using var response = await client.GetAsync("/until-disconnect", HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        // Each app awaited receive() with its response open; each client went away, so each heard http.disconnect.
        await Eventually.True(async () => (await JsonAsync(await server.Client.GetAsync("/tasks"))) is var state
            && state.GetProperty("disconnects").GetInt32() == 20 && state.GetProperty("tasks").GetInt32() == before, Deadline,
            "20 disconnects heard and the tasks back to where they were");

        var outOfOrder = await server.Client.GetAsync("/out-of-order");
        Assert.Equal(HttpStatusCode.InternalServerError, outOfOrder.StatusCode);
        await server.WaitForLogAsync("http.response.body before http.response.start", Deadline);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/tasks")).StatusCode);
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
    public async Task LifespanShutdown_RunsOnAGracefulStop()
    {
        var mark = Path.Combine(Directory.CreateTempSubdirectory("gunicorn-net-asgi-shutdown-").FullName, "shutdown.txt");
        await using var server = await StartAsync("-w", "1", "-k", "asgi", "-e", $"ASGI_SHUTDOWN_MARK={mark}", "asgi_apps:app");
        var worker = server.WorkerPids().Single();
        server.Signal(Signals.TERM);
        Assert.Equal(0, await server.WaitForExitAsync(Deadline));
        Assert.Equal($"shutdown {worker}\n", File.ReadAllText(mark));
    }

    [Fact]
    public async Task OneWorker_RunsManyRequestsAtOnce_OnItsEventLoop()
    {
        await using var server = await StartAsync("-w", "1", "-k", "asgi", "--worker-connections", "20", "asgi_apps:app");
        // Each answer waits until all ten are inside the app together: a worker serving one at a time never answers.
        var responses = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => server.Client.GetAsync("/together?n=10")));
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
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

    [Fact]
    public async Task UvicornWorkerClass_IsServedByTheAsgiWorker_AndAsgi2AppsAreAdapted()
    {
        await using var server = await StartAsync("-w", "1", "-k", "uvicorn.workers.UvicornWorker", "asgi_apps:Asgi2");
        await server.WaitForLogAsync("served by gunicorn-net's asgi worker", Deadline);
        var response = await server.Client.GetAsync("/");
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("2", response.Headers.GetValues("x-asgi").Single());
        Assert.Equal("double callable", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task FailedLifespanStartup_IsAnAppThatCannotLoad_Exit4()
    {
        await using var server = await GunicornServer.StartAsync(
            ["--python", "/usr/bin/python3", "--chdir", Apps, "-w", "1", "-k", "asgi", "asgi_apps:failing_startup"], waitForReady: false);
        Assert.Equal(4, await server.WaitForExitAsync(Deadline));
        Assert.Contains("database unreachable", server.Log);
    }

    [Fact]
    public async Task AsgiWithANonPythonApp_IsRefusedAtConfigTime()
    {
        var result = await Binary.RunAsync(["--check-config", "-k", "asgi", "@echo"]);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("asgi runs Python ASGI apps", result.Stdout + result.Stderr);
    }
}
