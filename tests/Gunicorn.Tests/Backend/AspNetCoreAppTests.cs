using System.Net;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Backend;

/// <summary>An unmodified ASP.NET Core app (samples/aspnet, built by the solution) as the workers' app.</summary>
public class AspNetCoreAppTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly string SampleApp = Path.Combine(AppContext.BaseDirectory, "SampleApp.dll");

    [Fact]
    public async Task UnmodifiedApp_ServesThroughTheFront_AndIsRecycledAtMaxRequests_WithoutAFailedRequest()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "2", "--max-requests", "10", SampleApp]);
        Assert.Equal("Hello from ASP.NET Core", await server.Client.GetStringAsync("/"));
        var first = server.WorkerPids().ToHashSet();
        Assert.Equal(2, first.Count);
        var failures = 0;
        var clients = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 40; i++)
            {
                if (!(await server.Client.GetAsync("/pid")).IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        }));
        await Task.WhenAll(clients);
        Assert.Equal(0, failures);
        Assert.Contains("Autorestarting worker after current request.", server.Log);
        await Eventually.True(() => first.All(pid => !ProcessTree.IsAlive(pid)), Deadline, "the first workers to be recycled");
    }

    [Fact]
    public async Task TheAppSeesTheClientAsTheConnectionsRemoteEnd()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "1", SampleApp]);
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        var localPort = ((IPEndPoint)client.Client.LocalEndPoint!).Port;
        var stream = client.GetStream();
        await stream.WriteAsync("GET /client HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"u8.ToArray());
        var response = await new StreamReader(stream).ReadToEndAsync();
        Assert.Contains($"127.0.0.1 {localPort} False", response);
    }

    [Fact]
    public async Task StoppedAppWorker_IsKilledOnTimeout_With504_AndReplaced()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "1", "--timeout", "2", SampleApp]);
        var worker = server.WorkerPids().Single();
        Signals.Send(worker, Signals.STOP);
        var response = await server.Client.GetAsync("/pid");
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        await server.WaitForLogAsync($@"WORKER TIMEOUT \(pid:{worker}\)", Deadline);
        await Eventually.True(() => !ProcessTree.IsAlive(worker) && server.WorkerPids().Count == 1, Deadline, "a replacement");
        await Eventually.True(async () => (await server.Client.GetAsync("/")).IsSuccessStatusCode, Deadline, "service again");
    }

    [SkippableFact]
    public async Task UnmodifiedApp_RunsAsTheConfiguredUser_TitledAsAWorker_WithItsOutputInTheErrorLog()
    {
        Skip.IfNot(Environment.UserName == "root", "switching users needs a master started as root");
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-aspnet-user-").FullName;
        File.SetUnixFileMode(dir, (UnixFileMode)Convert.ToInt32("777", 8));
        var errorLog = Path.Combine(dir, "error.log");
        await using var server = await GunicornServer.StartAsync(
            ["-w", "1", "-u", "nobody", "-n", "shop", "--error-logfile", errorLog, "--capture-output", SampleApp], dir,
            environment: new Dictionary<string, string> { ["Logging__LogLevel__Default"] = "Information" }, waitForReady: false);
        await Eventually.True(() => File.Exists(errorLog) && File.ReadAllText(errorLog).Contains("workers ready"), Deadline, "the worker to be ready");

        var worker = Assert.Single(server.WorkerPids());
        Assert.Equal(65534, ProcessTree.Uid(worker));
        Assert.StartsWith("gunicorn-net: worker [shop]", ProcessTree.Title(worker));
        // The app's own console logging (ASP.NET Core's "Application started") lands in the error log, as capture_output says.
        await Eventually.True(() => File.ReadAllText(errorLog).Contains("Application started"), Deadline, "the app's output in the error log");
    }

    [Fact]
    public async Task UnmodifiedApp_RunsTheWorkerSideCommandHooks()
    {
        var recorder = new HookRecorder(["post_worker_init", "worker_exit"], "GUNICORN_WORKER_PID");
        await using var server = await GunicornServer.StartAsync(["-w", "1", SampleApp], recorder.Directory);
        var worker = Assert.Single(server.WorkerPids());
        await Eventually.True(() => recorder.Lines.Contains($"post_worker_init {worker}"), Deadline, "post_worker_init in the app's worker");
        server.Signal(Signals.TERM);
        Assert.Equal(0, await server.WaitForExitAsync(Deadline));
        Assert.Equal([$"post_worker_init {worker}", $"worker_exit {worker}"], recorder.Lines);

        File.AppendAllText(Path.Combine(recorder.Directory, "gunicorn.yaml"), "worker_int: python:hooks:on_int\n");
        var refused = await Binary.RunAsync(["--check-config", SampleApp], recorder.Directory);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("is an ASP.NET Core app: no Python runs in its workers", refused.Stdout + refused.Stderr);
    }

    [Theory]
    [InlineData("async")] // Kestrel's own transport
    [InlineData("gthread")] // a thread for each of the front's connections; two, so that /pid has one of its own
    public async Task WebSockets_PassThroughTheFront_ToAnUnmodifiedApp(string workerClass)
    {
        // Request and response buffering are on (the defaults): an upgrade must bypass both.
        await using var server = await GunicornServer.StartAsync(["-w", "1", "-k", workerClass, "--threads", "2", "--metrics-bind", "127.0.0.1:0", SampleApp]);
        var metrics = (await server.WaitForLogAsync(@"Serving metrics at: (http://127\.0\.0\.1:\d+/metrics)", Deadline)).Groups[1].Value;
        using var scraper = new HttpClient();
        using var socket = new System.Net.WebSockets.ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{server.BaseAddress.Port}/ws"), CancellationToken.None);
        var buffer = new byte[4096];
        foreach (var text in new[] { "hello", "second message" })
        {
            await socket.SendAsync(System.Text.Encoding.UTF8.GetBytes(text), System.Net.WebSockets.WebSocketMessageType.Text, true, CancellationToken.None);
            var received = await socket.ReceiveAsync(buffer, CancellationToken.None);
            Assert.Equal("echo: " + text, System.Text.Encoding.UTF8.GetString(buffer, 0, received.Count));
        }
        // Meanwhile ordinary requests go on being served by the same worker.
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/pid")).StatusCode);
        Assert.Contains("\ngunicorn_websocket_connections 1\n", await scraper.GetStringAsync(metrics));
        await socket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        Assert.Equal(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
        Assert.Equal("bye", socket.CloseStatusDescription);
        await Eventually.True(async () => (await scraper.GetStringAsync(metrics)).Contains("\ngunicorn_websocket_connections 0\n"), Deadline, "the closed WebSocket");
        Assert.Contains("\ngunicorn_websocket_connections_total 1\n", await scraper.GetStringAsync(metrics));
    }

    [Fact]
    public async Task AnAppThatBlocks_HoldsOnlyItsOwnRequest_OnAThreadForEachOfTheFrontsConnections()
    {
        // gthread with 2 threads: the front sends this worker two requests at once, each on a connection of its own.
        await using var server = await GunicornServer.StartAsync(["-w", "1", "-k", "gthread", "--threads", "2", SampleApp]);
        var worker = server.WorkerPids().Single();
        using var blocked = new CancellationTokenSource();
        var blocking = server.Client.GetAsync("/block?seconds=60", blocked.Token);
        await Eventually.True(() => ThreadNames(worker).Count(n => n.StartsWith("gn-front-", StringComparison.Ordinal)) >= 1,
            Deadline, "the blocking request's connection thread");
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(worker.ToString(System.Globalization.CultureInfo.InvariantCulture), await server.Client.GetStringAsync("/pid"));
        }
        Assert.False(blocking.IsCompleted, "the blocking request should still be held by the app");
        Assert.Equal(2, ThreadNames(worker).Count(n => n.StartsWith("gn-front-", StringComparison.Ordinal)));
        blocked.Cancel();
    }

    [Fact]
    public async Task AnAppThatBlocksOnItsOwnRequestBody_GetsIt_FromAnotherReceivingThread()
    {
        // Sync-over-async on the body: the app blocks the thread that would read the rest of it. Without a handover
        // the request waits until Kestrel's body data rate limit gives up on it (a 408 after 5 s).
        await using var server = await GunicornServer.StartAsync(["-w", "1", "--client-max-body-size", "16m", SampleApp]);
        var body = new byte[2 * 1024 * 1024 + 5];
        new Random(3).NextBytes(body);
        for (var i = 0; i < 2; i++) // the second on a kept-alive connection, where Kestrel runs on the receiving thread
        {
            using var cancel = new CancellationTokenSource(Deadline);
            var posted = await server.Client.PostAsync("/length-blocking", new ByteArrayContent(body), cancel.Token);
            Assert.Equal($"{body.Length} {body.Sum(b => (long)b)}", await posted.Content.ReadAsStringAsync(cancel.Token));
        }
    }

    [Fact]
    public async Task ASendThatMakesNoProgressForTheWorkersTimeout_Fails_FreeingTheAppsThread()
    {
        // Unbuffered responses to a client that reads nothing: the front stops reading, the app's send blocks. After
        // `timeout` (2 s) the send fails and the app's thread is free; without it the send would block until the
        // front's send_timeout (60 s) gave up on the client.
        await using var server = await GunicornServer.StartAsync(["-w", "1", "--timeout", "2", "--response-buffering", "false", SampleApp]);
        using var stalled = new System.Net.Sockets.TcpClient();
        stalled.ReceiveBufferSize = 4096;
        await stalled.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        await stalled.GetStream().WriteAsync("GET /bytes?n=200000000 HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        await server.WaitForLogAsync(@"SocketException \(110\): Connection timed out", TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task AsyncWorkers_KeepKestrelsOwnTransport()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "1", "-k", "async", SampleApp]);
        var worker = server.WorkerPids().Single();
        Assert.Equal("Hello from ASP.NET Core", await server.Client.GetStringAsync("/"));
        Assert.DoesNotContain(ThreadNames(worker), n => n.StartsWith("gn-front-", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("sync")]
    [InlineData("async")]
    public async Task LargeBodies_PassBothWays_Whole(string workerClass)
    {
        await using var server = await GunicornServer.StartAsync(["-w", "1", "-k", workerClass, "--client-max-body-size", "16m", SampleApp]);
        var body = new byte[3 * 1024 * 1024 + 17];
        new Random(7).NextBytes(body);
        var posted = await server.Client.PostAsync("/length", new ByteArrayContent(body));
        Assert.Equal($"{body.Length} {body.Sum(b => (long)b)}", await posted.Content.ReadAsStringAsync());
        const int size = 5 * 1024 * 1024 + 3;
        var received = await server.Client.GetByteArrayAsync($"/bytes?n={size}");
        Assert.Equal(size, received.Length);
        Assert.True(received.Select((b, i) => b == (byte)(i % 251)).All(ok => ok), "the response's bytes should be the pattern the app wrote");
    }

    [Fact]
    public async Task TheWorkerListensOnlyWhereTheFrontConnects_WhateverAddressesTheEnvironmentNames()
    {
        var port = FreePorts.Next();
        await using var server = await GunicornServer.StartAsync(["-w", "1",
            "-e", $"ASPNETCORE_URLS=http://127.0.0.1:{port}", "-e", $"ASPNETCORE_HTTP_PORTS={port}", SampleApp]);
        Assert.Equal("Hello from ASP.NET Core", await server.Client.GetStringAsync("/"));
        Assert.False(await FreePorts.IsListening(port));
        Assert.DoesNotContain("Overriding", server.Log);
    }

    [Fact]
    public async Task TheAppsOwnEndpointsFromConfiguration_AreNotBound_AndSaidSo()
    {
        // Kestrel:Endpoints in the app's appsettings.json: each of two workers binding it would fight for the port,
        // and Kestrel would listen there instead of on the worker's socket.
        var app = Directory.CreateTempSubdirectory("gunicorn-net-aspnet-").FullName;
        foreach (var file in Directory.EnumerateFiles(AppContext.BaseDirectory, "SampleApp.*"))
        {
            File.Copy(file, Path.Combine(app, Path.GetFileName(file)));
        }
        var port = FreePorts.Next();
        File.WriteAllText(Path.Combine(app, "appsettings.json"),
            """{"Kestrel":{"Endpoints":{"Public":{"Url":"http://127.0.0.1:""" + port + "\"}}}}");
        await using var server = await GunicornServer.StartAsync(["-w", "2", Path.Combine(app, "SampleApp.dll")]);
        Assert.Equal(2, server.WorkerPids().Count);
        Assert.Equal("Hello from ASP.NET Core", await server.Client.GetStringAsync("/"));
        Assert.False(await FreePorts.IsListening(port));
        await server.WaitForLogAsync(@"The app's Kestrel endpoints from configuration \(Public\) are not bound", Deadline);
    }

    private static List<string> ThreadNames(int pid) =>
        Directory.EnumerateDirectories($"/proc/{pid}/task")
            .Select(task => { try { return File.ReadAllText(Path.Combine(task, "comm")).Trim(); } catch (IOException) { return ""; } })
            .ToList();
}
