using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Backend;

/// <summary>HUP: a complete new generation, switched to only when ready; a bad config or app leaves the old one serving.</summary>
public class ReloadTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Hup_ToADifferentApp_SwitchesEveryResponse_WithoutAFailedRequest()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-reload-").FullName;
        var config = Path.Combine(dir, "gunicorn.yaml");
        File.WriteAllText(config, "workers: 2\nwsgi_app: \"@hello\"\n");
        await using var server = await GunicornServer.StartAsync([], dir);
        Assert.StartsWith("Hello from gunicorn-net", await server.Client.GetStringAsync("/pid"));
        var load = ContinuousLoad.Start(server.Client);
        File.WriteAllText(config, "workers: 2\nwsgi_app: \"@echo\"\n");
        server.Signal(Signals.HUP);
        await server.WaitForLogAsync(@"Reload complete: generation 2 serving", Deadline);
        for (var i = 0; i < 20; i++)
        {
            Assert.Matches(@"^\d+$", await server.Client.GetStringAsync("/pid"));
        }
        Assert.Empty(await load.StopAsync());
    }

    [Fact]
    public async Task FiveReloads_UnderThirtySecondsOfLoad_ChangeTheVersion_WithoutAFailedRequest()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-reload5-").FullName;
        var module = Path.Combine(dir, "versioned.py");
        WriteApp(module, "v0");
        await using var server = await GunicornServer.StartAsync(
            ["--python", "/usr/bin/python3", "--chdir", dir, "-w", "2", "--graceful-timeout", "5", "versioned:app"], dir);
        var failures = new List<string>();
        var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var load = Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var response = await server.Client.GetAsync("/");
                if (!response.IsSuccessStatusCode)
                {
                    lock (failures) { failures.Add($"{(int)response.StatusCode}"); }
                }
            }
        })));
        for (var version = 1; version <= 5; version++)
        {
            var before = server.WorkerPids().ToHashSet();
            WriteApp(module, $"v{version}");
            var from = server.LineCount;
            server.Signal(Signals.HUP);
            await server.WaitForLogAsync($"Reload complete: generation {version + 1} serving", Deadline, from);
            // After the switch, every response comes from the new version.
            for (var i = 0; i < 10; i++)
            {
                Assert.Equal($"v{version}", await server.Client.GetStringAsync("/"));
            }
            // The old generation is gone within graceful_timeout (5 s) plus the kill grace.
            await Eventually.True(() => before.All(pid => !ProcessTree.IsAlive(pid)), TimeSpan.FromSeconds(7), $"generation {version} to exit");
        }
        await load;
        Assert.Empty(failures);
    }

    [Fact]
    public async Task LongRequest_InFlightDuringReload_CompletesOnTheOldGeneration()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "1", "--log-level", "debug", "@echo"]);
        var oldWorker = server.WorkerPids().Single();
        var slow = server.Client.GetAsync("/sleep?seconds=5");
        await server.WaitForLogAsync("Sleeping 5 s", Deadline);
        server.Signal(Signals.HUP);
        await server.WaitForLogAsync("Reload complete: generation 2 serving", Deadline);
        var response = await slow;
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.EndsWith($"in {oldWorker}\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Hup_WithAnInvalidConfig_LogsEveryErrorWithItsPosition_AndKeepsServing()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-reload-").FullName;
        var config = Path.Combine(dir, "gunicorn.yaml");
        File.WriteAllText(config, "workers: 1\nwsgi_app: \"@echo\"\n");
        await using var server = await GunicornServer.StartAsync([], dir);
        var before = server.WorkerPids();
        var load = ContinuousLoad.Start(server.Client);
        File.WriteAllText(config, "workers: 0\nwsgi_app: \"@echo\"\ntimeuot: 5\n");
        server.Signal(Signals.HUP);
        await server.WaitForLogAsync(@"Reload: gunicorn\.yaml:1:10: workers: must be at least 1, got 0\.", Deadline);
        await server.WaitForLogAsync(@"Reload: gunicorn\.yaml:3:1: unknown setting ""timeuot""\. Did you mean ""timeout""\?", Deadline);
        await server.WaitForLogAsync(@"Reload failed: the configuration is invalid", Deadline);
        Assert.Empty(await load.StopAsync());
        Assert.Equal(before, server.WorkerPids());
    }

    [Fact]
    public async Task Hup_ToAnAppThatCannotLoad_TearsDownTheNewGeneration_AndTheOldKeepsServing()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-reload-").FullName;
        var config = Path.Combine(dir, "gunicorn.yaml");
        File.WriteAllText(config, "workers: 2\nwsgi_app: \"@echo\"\n");
        await using var server = await GunicornServer.StartAsync([], dir);
        var before = server.WorkerPids().Order().ToList();
        var load = ContinuousLoad.Start(server.Client);
        File.WriteAllText(config, "workers: 2\nwsgi_app: \"@missing\"\n");
        server.Signal(Signals.HUP);
        await server.WaitForLogAsync(@"Reload failed: App failed to load\..*generation 1 keeps serving", Deadline);
        Assert.True((await server.Client.GetAsync("/pid")).IsSuccessStatusCode);
        Assert.Empty(await load.StopAsync());
        Assert.False(server.HasExited);
        await Eventually.True(() => server.WorkerPids().Order().SequenceEqual(before), Deadline, "only the old workers");
    }

    [Fact]
    public async Task AfterAFailedReload_AReplacementRunsTheServingGenerationsAppAndEnvironment_WithoutAFailedRequest()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-reload-fail-").FullName;
        var config = Path.Combine(dir, "gunicorn.yaml");
        File.WriteAllText(config, "workers: 2\nwsgi_app: \"@echo\"\nraw_env: [\"MARK=serving\", \"ONLY_BEFORE=1\"]\n");
        await using var server = await GunicornServer.StartAsync([], dir);
        var load = ContinuousLoad.Start(server.Client);

        // The new configuration names a module that does not exist, and a new environment.
        File.WriteAllText(config, "workers: 2\npython: /usr/bin/python3\nwsgi_app: \"no_such_module:app\"\nraw_env: [\"MARK=abandoned\"]\n");
        var from = server.LineCount;
        server.Signal(Signals.HUP);
        await server.WaitForLogAsync(@"Reload failed: App failed to load\..*generation 1 keeps serving", Deadline, from);

        // A worker of the serving generation dies: its replacement must run generation 1's app and raw_env.
        var before = server.WorkerPids();
        var victim = before.First();
        from = server.LineCount;
        Signals.Send(victim, Signals.KILL);
        await server.WaitForLogAsync(@"Booting worker with pid: \d+", Deadline, from);
        await Eventually.True(() => server.WorkerPids().Count == 2 && !server.WorkerPids().Contains(victim), Deadline, "a replacement worker");
        var replacement = server.WorkerPids().Single(pid => pid != victim && ProcessTree.IsAlive(pid) && pid > 0 && !before.Contains(pid));
        // Every answer comes from generation 1's app with generation 1's environment, the replacement's among them.
        await Eventually.True(async () =>
        {
            Assert.Equal("serving", await server.Client.GetStringAsync("/env?name=MARK"));
            Assert.Equal("1", await server.Client.GetStringAsync("/env?name=ONLY_BEFORE"));
            return await server.Client.GetStringAsync("/pid") == replacement.ToString();
        }, Deadline, "the replacement to answer");
        Assert.Empty(await load.StopAsync());
    }

    [Fact]
    public async Task Reload_AppliesANewRawEnv_AndDropsRemovedEntries()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-reload-env-").FullName;
        var config = Path.Combine(dir, "gunicorn.yaml");
        File.WriteAllText(config, "workers: 1\nwsgi_app: \"@echo\"\nraw_env: [\"MARK=one\", \"DROPPED=yes\"]\n");
        await using var server = await GunicornServer.StartAsync([], dir);
        Assert.Equal("yes", await server.Client.GetStringAsync("/env?name=DROPPED"));
        File.WriteAllText(config, "workers: 1\nwsgi_app: \"@echo\"\nraw_env: [\"MARK=two\"]\n");
        server.Signal(Signals.HUP);
        await server.WaitForLogAsync("Reload complete: generation 2 serving", Deadline);
        Assert.Equal("two", await server.Client.GetStringAsync("/env?name=MARK"));
        Assert.Equal("", await server.Client.GetStringAsync("/env?name=DROPPED"));
    }

    [Fact]
    public async Task WhenTheServingCodeBreaksOnDisk_TheGenerationKeepsServing_SaysItIsShort_AndRecoversOnceFixed()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-broken-disk-").FullName;
        var module = Path.Combine(dir, "versioned.py");
        WriteApp(module, "v1");
        await using var server = await GunicornServer.StartAsync(
            ["--python", "/usr/bin/python3", "--chdir", dir, "-w", "2", "versioned:app"], dir);
        var load = ContinuousLoad.Start(server.Client, "/");
        File.WriteAllText(module, "this is not python\n");
        var from = server.LineCount;
        Signals.Send(server.WorkerPids().First(), Signals.KILL);
        await server.WaitForLogAsync(@"Short of workers: generation 1 has 1 of 2 ready; a replacement worker \(pid:\d+\) exited with code 4", Deadline, from);
        var status = await Binary.RunAsync(["ctl", "status"], server.WorkingDirectory);
        Assert.Contains("Short of workers: generation 1 has 1 of 2 ready", status.Stdout);
        Assert.Equal("v1", await server.Client.GetStringAsync("/"));

        WriteApp(module, "v1");
        await Eventually.True(async () => (await Binary.RunAsync(["ctl", "status"], server.WorkingDirectory)).Stdout.Contains("2 of 2 workers ready"),
            Deadline, "the pool to recover once the code loads again");
        Assert.Empty(await load.StopAsync());
    }

    [Fact]
    public async Task ReloadSetting_PicksUpEditedPythonCode_AndExtraFiles()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-devreload-").FullName;
        var module = Path.Combine(dir, "versioned.py");
        WriteApp(module, "v1");
        Directory.CreateDirectory(Path.Combine(dir, "templates", "deep"));
        await using var server = await GunicornServer.StartAsync(
            ["--python", "/usr/bin/python3", "--chdir", dir, "--reload", "--reload-extra-file", "templates/**/*.html", "versioned:app"], dir);
        Assert.Equal("v1", await server.Client.GetStringAsync("/"));

        WriteApp(module, "v2");
        await server.WaitForLogAsync(@"Worker reloading: .*versioned\.py modified", Deadline);
        await Eventually.True(async () => await server.Client.GetStringAsync("/") == "v2", Deadline, "the edited code to serve");

        var from = server.LineCount;
        File.WriteAllText(Path.Combine(dir, "templates", "deep", "new.html"), "<p>new</p>");
        await server.WaitForLogAsync(@"Worker reloading: .*new\.html modified", Deadline, from);
    }

    /// <summary>A WSGI app answering <paramref name="version"/>: edited on disk, it tells when new code serves.</summary>
    internal static void WriteApp(string path, string version) => File.WriteAllText(path,
        $"def app(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'{version}']\n");
}
