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

        // A binary message larger than one frame's short length comes back reversed, whole.
        var payload = Enumerable.Range(0, 100_000).Select(i => (byte)i).ToArray();
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
