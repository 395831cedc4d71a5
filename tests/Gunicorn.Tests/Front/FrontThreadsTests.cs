using System.Net;
using Gunicorn.Backend.Platform;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Front;

/// <summary>
/// front_threads (nginx's worker_processes) sets the number of the master's event threads, which the runtime names
/// ".NET Sockets"; the workers keep the operator's environment; a reload cannot change it and says so.
/// </summary>
public class FrontThreadsTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private static int EventThreads(int pid) =>
        Directory.EnumerateDirectories($"/proc/{pid}/task").Count(task => ReadOrEmpty(Path.Combine(task, "comm")).Trim() == ".NET Sockets");

    private static string ReadOrEmpty(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return ""; // the thread ended while we looked
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task FrontThreads_IsTheNumberOfTheMastersEventThreads_AndWorkersDoNotInheritIt(int threads)
    {
        await using var server = await GunicornServer.StartAsync(["-w", "1", "--front-threads", threads.ToString(), "@echo"]);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/pid")).StatusCode);

        Assert.Equal(threads, EventThreads(server.Pid));
        var status = await Binary.RunAsync(["ctl", "status"], server.WorkingDirectory);
        Assert.Contains($"front:       {threads} event threads (front_threads)", status.Stdout);
        var worker = Assert.Single(server.WorkerPids());
        var environment = File.ReadAllText($"/proc/{worker}/environ").Split('\0');
        Assert.DoesNotContain(environment, entry => entry.StartsWith(FrontSocketEngine.ThreadCount + "=", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ACount_OverridesTheOperatorsVariable_InTheMasterOnly()
    {
        var operatorValue = new Dictionary<string, string> { [FrontSocketEngine.ThreadCount] = "3" };
        await using var server = await GunicornServer.StartAsync(["-w", "1", "--front-threads", "1", "@echo"], environment: operatorValue);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/pid")).StatusCode);

        Assert.Equal(1, EventThreads(server.Pid));
        var worker = Assert.Single(server.WorkerPids());
        Assert.Contains(FrontSocketEngine.ThreadCount + "=3", File.ReadAllText($"/proc/{worker}/environ").Split('\0'));
    }

    [Fact]
    public async Task Auto_LeavesTheOperatorsVariableInForce()
    {
        var operatorValue = new Dictionary<string, string> { [FrontSocketEngine.ThreadCount] = "3" };
        await using var server = await GunicornServer.StartAsync(["-w", "1", "@echo"], environment: operatorValue);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/pid")).StatusCode);
        Assert.Equal(3, EventThreads(server.Pid));
    }

    [Fact]
    public async Task FrontThreadsAuto_IsOnePerTwoCores()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "1", "--front-threads", "auto", "@echo"]);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/pid")).StatusCode);
        Assert.Equal(Math.Max(1, Environment.ProcessorCount / 2), EventThreads(server.Pid));
    }

    [Fact]
    public async Task AReloadThatChangesFrontThreads_KeepsServing_AndSaysItNeedsARestart()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-front-threads-").FullName;
        var config = Path.Combine(dir, "gunicorn.yaml");
        File.WriteAllText(config, "workers: 1\nwsgi_app: \"@echo\"\nbind: [\"127.0.0.1:0\"]\nfront_threads: 1\n");
        await using var server = await GunicornServer.StartAsync([], dir, bindFromConfig: true);

        File.WriteAllText(config, "workers: 1\nwsgi_app: \"@echo\"\nbind: [\"127.0.0.1:0\"]\nfront_threads: 2\n");
        var from = server.LineCount;
        server.Signal(Signals.HUP);
        await server.WaitForLogAsync("front_threads is now 2 \\(2 event threads\\), but .* it still runs 1\\. Restart the master or upgrade it in place \\(USR2\\)", Deadline, from);
        await server.WaitForLogAsync("Reload complete: generation 2 serving", Deadline, from);

        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/pid")).StatusCode);
        Assert.Equal(1, EventThreads(server.Pid));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-2")]
    [InlineData("many")]
    public async Task ABadFrontThreads_IsAConfigError_NamingTheFlagAndTheValue(string value)
    {
        var result = await Binary.RunAsync(["--front-threads", value, "@echo"]);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"--front-threads: expected a positive integer or auto, got \"{value}\"", result.Stderr);
    }

    [Fact]
    public async Task TooManyFrontThreads_IsAConfigError_WithTheBound()
    {
        var result = await Binary.RunAsync(["--front-threads", "300", "@echo"]);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"--front-threads: must be at most {Gunicorn.Settings.Sections.ServerSocketSettings.MaxFrontThreads}, got 300.", result.Stderr);
    }

    [Fact]
    public async Task ABadFrontThreadsInTheConfigFile_NamesItsPlace()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-front-threads-").FullName;
        var config = Path.Combine(dir, "gunicorn.yaml");
        File.WriteAllText(config, "workers: 1\nfront_threads: 0\n");
        var result = await Binary.RunAsync(["-c", config, "@echo"]);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"{config}:2:16: front_threads: expected a positive integer or auto, got \"0\"", result.Stderr);
    }
}
