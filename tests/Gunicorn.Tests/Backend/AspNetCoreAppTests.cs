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
}
