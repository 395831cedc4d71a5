using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Backend;

/// <summary>Boot failures, recycling, pidfile, hooks and identities.</summary>
public class LifecycleTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task AppThatCannotLoad_HaltsTheMaster_WithExitCode4()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "2", "@nonexistent"], waitForReady: false);
        Assert.Equal(4, await server.WaitForExitAsync(Deadline));
        Assert.Contains("App failed to load: no app named \"@nonexistent\"", server.Log);
        Assert.Contains("Shutting down: App failed to load.", server.Log);
    }

    [Fact]
    public async Task MaxRequests_RecyclesWorkers_UnderLoad_WithoutAFailedRequest()
    {
        await using var server = await GunicornServer.StartAsync(
            ["-w", "2", "--max-requests", "10", "--max-requests-jitter", "3", "@echo"]);
        var first = server.WorkerPids().ToHashSet();
        var failures = 0;
        var served = 0;
        var clients = Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 40; i++)
            {
                var response = await server.Client.GetAsync("/pid");
                Interlocked.Increment(ref response.IsSuccessStatusCode ? ref served : ref failures);
            }
        }));
        await Task.WhenAll(clients);
        Assert.Equal(0, failures);
        Assert.Equal(120, served);
        Assert.Contains("Autorestarting worker after current request.", server.Log);
        await Eventually.True(() => first.All(pid => !ProcessTree.IsAlive(pid)), Deadline, "the first workers to be recycled");
        // A later worker may itself be handing over to its replacement at this moment: the pool settles at 2.
        await Eventually.True(() => server.WorkerPids().Count == 2, Deadline, "the pool back at 2 workers");
    }

    [Fact]
    public async Task PidFile_IsWrittenAndRemoved()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-pid-").FullName;
        var pidFile = Path.Combine(dir, "master.pid");
        await using var server = await GunicornServer.StartAsync(["-w", "1", "-p", pidFile, "@echo"], dir);
        Assert.Equal(server.Pid.ToString(), File.ReadAllText(pidFile).Trim());
        server.Signal(Signals.TERM);
        Assert.Equal(0, await server.WaitForExitAsync(Deadline));
        Assert.False(File.Exists(pidFile));
    }

    [Fact]
    public async Task Hooks_RunInGunicornsOrder()
    {
        var recorder = new HookRecorder(
            ["on_starting", "when_ready", "pre_fork", "post_fork", "child_exit", "nworkers_changed", "on_exit", "on_reload"],
            "GUNICORN_NEW_VALUE");
        await using var server = await GunicornServer.StartAsync(["-w", "1", "@echo"], recorder.Directory);
        server.Signal(Signals.TTIN);
        await Eventually.True(() => server.WorkerPids().Count == 2, Deadline, "a second worker");
        server.Signal(Signals.TERM);
        Assert.Equal(0, await server.WaitForExitAsync(Deadline));
        var lines = recorder.Lines;
        Assert.Equal(
            ["on_starting", "pre_fork", "post_fork", "when_ready", "nworkers_changed 2", "pre_fork", "post_fork", "on_exit"],
            lines.Where(l => !l.StartsWith("child_exit")).ToList());
    }

    [Fact]
    public async Task FailingOnStartingHook_StopsStartup()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-hooks-").FullName;
        File.WriteAllText(Path.Combine(dir, "gunicorn.yaml"), "on_starting: /bin/false\n");
        await using var server = await GunicornServer.StartAsync(["@echo"], dir, waitForReady: false);
        Assert.Equal(1, await server.WaitForExitAsync(Deadline));
        Assert.Contains("Hook on_starting (/bin/false) failed with exit code 1", server.Log);
    }

    [SkippableFact]
    public async Task WorkersRunAsTheConfiguredUser()
    {
        Skip.IfNot(Environment.UserName == "root", "switching users needs a master started as root");
        // Workers change to the app directory as nobody, so it must be readable by others.
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-user-").FullName;
        File.SetUnixFileMode(dir, (UnixFileMode)Convert.ToInt32("755", 8));
        await using var server = await GunicornServer.StartAsync(["-w", "1", "-u", "nobody", "@echo"], dir);
        var worker = server.WorkerPids().Single();
        Assert.Equal(65534, ProcessTree.Uid(worker));
        Assert.True((await server.Client.GetAsync("/pid")).IsSuccessStatusCode);
    }

    [SkippableFact]
    public async Task ReloadThatChangesTheWorkersUser_FailsWithTheReason_AndTheOldWorkersKeepServing()
    {
        Skip.IfNot(Environment.UserName == "root", "switching users needs a master started as root");
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-user-reload-").FullName;
        File.SetUnixFileMode(dir, (UnixFileMode)Convert.ToInt32("755", 8));
        var config = Path.Combine(dir, "gunicorn.yaml");
        File.WriteAllText(config, "workers: 1\n");
        await using var server = await GunicornServer.StartAsync(["@echo"], dir);
        var before = await server.Client.GetStringAsync("/pid");

        File.WriteAllText(config, "workers: 1\nuser: nobody\n");
        server.Signal(Signals.HUP);
        await server.WaitForLogAsync(@"Reload failed: user/group changed, .* Restart the master \(or upgrade it in place with USR2\)", Deadline);
        Assert.Equal(before, await server.Client.GetStringAsync("/pid"));
    }
}
