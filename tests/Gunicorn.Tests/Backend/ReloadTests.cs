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

    private static void WriteApp(string path, string version) => File.WriteAllText(path,
        $"def app(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'{version}']\n");
}
