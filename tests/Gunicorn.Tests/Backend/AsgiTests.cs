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
    public async Task AClientThatAbortsAChunkedUpload_IsHeardAsHttpDisconnect_NotAnAppError()
    {
        await using var server = await StartAsync("-w", "1", "-k", "asgi", "--request-buffering", "false", "asgi_apps:probe");
        using (var tcp = new System.Net.Sockets.TcpClient())
        {
            await tcp.ConnectAsync(IPAddress.Loopback, server.BaseAddress.Port);
            await tcp.GetStream().WriteAsync(System.Text.Encoding.ASCII.GetBytes(
                "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n" + new string('a', 4096) + "\r\n"));
            await Eventually.True(async () => (await JsonAsync(await server.Client.GetAsync("/tasks"))).GetProperty("uploads").GetInt32() == 1,
                Deadline, "the upload to reach the app");
        }
        // The client hung up between chunks: the worker's next read finds the connection closed inside the body.
        await Eventually.True(async () => (await JsonAsync(await server.Client.GetAsync("/tasks"))).GetProperty("disconnects").GetInt32() == 1,
            Deadline, "the app to hear http.disconnect");
        Assert.DoesNotContain("Error handling request /upload", server.Log);
    }

    [Fact]
    public async Task PathSend_SendsTheFileWhole_AndAMissingFileIsA500()
    {
        var file = Path.Combine(Directory.CreateTempSubdirectory("gunicorn-net-asgi-pathsend-").FullName, "data.bin");
        var bytes = new byte[3 * 1024 * 1024 + 17];
        new Random(7).NextBytes(bytes);
        File.WriteAllBytes(file, bytes);
        await using var server = await StartAsync("-w", "1", "-k", "asgi", "asgi_apps:probe");
        Assert.Equal(bytes, await server.Client.GetByteArrayAsync("/file?" + file));
        // A path the app names wrongly is the app's error, answered 500 and logged, not a client that went away.
        Assert.Equal(HttpStatusCode.InternalServerError, (await server.Client.GetAsync("/file?" + file + ".missing")).StatusCode);
        await server.WaitForLogAsync("FileNotFoundError", Deadline);
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
