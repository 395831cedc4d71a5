using System.Text.Json;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Backend;

/// <summary>gunicorn-net ctl against a real master's control socket.</summary>
public class ControlTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Scale_ThenStatusJson_ShowsTheReadyWorkers()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "2", "@echo"]);
        var scaled = await Binary.RunAsync(["ctl", "scale", "4"], server.WorkingDirectory);
        Assert.Equal(0, scaled.ExitCode);
        await Eventually.True(async () =>
        {
            var status = await StatusAsync(server);
            return status.GetProperty("workers").EnumerateArray().Count(w => w.GetProperty("state").GetString() == "ready") == 4;
        }, Deadline, "4 ready workers in ctl status --json");
        var table = await Binary.RunAsync(["ctl", "status"], server.WorkingDirectory);
        Assert.Contains("4 of 4 workers ready, serving generation 1", table.Stdout);
        Assert.Contains("PID      GEN  AGE  STATE", table.Stdout);
    }

    [Fact]
    public async Task Reload_OfAnAppThatCannotLoad_IsExplainedInStatus_AndTheOldGenerationServes()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-ctl-").FullName;
        var config = Path.Combine(dir, "gunicorn.yaml");
        File.WriteAllText(config, "wsgi_app: \"@echo\"\n");
        await using var server = await GunicornServer.StartAsync([], dir);
        File.WriteAllText(config, "wsgi_app: \"@missing\"\n");
        Assert.Equal(0, (await Binary.RunAsync(["ctl", "reload"], dir)).ExitCode);
        await Eventually.True(async () => (await StatusAsync(server)).GetProperty("lastReload").GetString() is { } last && last.Contains("failed"),
            Deadline, "the failed reload in status");
        var status = await StatusAsync(server);
        Assert.Contains("App failed to load", status.GetProperty("lastReload").GetString());
        Assert.Equal(1, status.GetProperty("servingGeneration").GetInt32());
        Assert.True((await server.Client.GetAsync("/pid")).IsSuccessStatusCode);
    }

    [Fact]
    public async Task Ctl_WithoutAMaster_SaysWhereItLooked()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-ctl-").FullName;
        var result = await Binary.RunAsync(["ctl", "status"], dir);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"Cannot reach the master at {Path.Combine(dir, "gunicorn-net.ctl")}", result.Stderr);
    }

    private static async Task<JsonElement> StatusAsync(GunicornServer server)
    {
        var result = await Binary.RunAsync(["ctl", "status", "--json"], server.WorkingDirectory);
        Assert.True(result.ExitCode == 0, result.Stderr);
        return JsonDocument.Parse(result.Stdout).RootElement.Clone();
    }
}
