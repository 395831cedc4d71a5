using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Settings;

/// <summary>The real binary's config commands: exit codes and where the text goes.</summary>
public class CommandLineTests
{
    [Fact]
    public async Task CheckConfig_OnShippedConfig_ExitsZero()
    {
        var result = await Binary.RunAsync(["--check-config", "-c", RepoPaths.Combine("config", "gunicorn.yaml")]);
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Config OK", result.Stdout);
    }

    [Fact]
    public async Task BadConfig_ReportsEveryErrorOnStderr_AndExitsOne()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-cli-").FullName;
        File.WriteAllText(Path.Combine(dir, "gunicorn.yaml"), "workers: 0\nworker_timeout: 3\n");
        var result = await Binary.RunAsync(["--check-config", "--max-requests", "-1"], dir);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("gunicorn.yaml:1:10: workers: must be at least 1, got 0.", result.Stderr);
        Assert.Contains("gunicorn.yaml:2:1: unknown setting \"worker_timeout\". Did you mean \"timeout\"?", result.Stderr);
        Assert.Contains("--max-requests: must be at least 0, got -1.", result.Stderr);
        Assert.Contains("3 configuration errors", result.Stderr);
        Assert.Equal("", result.Stdout);
    }

    [Fact]
    public async Task GunicornCmdArgs_AreReadFromTheEnvironment()
    {
        var result = await Binary.RunAsync(["--print-config"],
            environment: new Dictionary<string, string> { ["GUNICORN_CMD_ARGS"] = "--workers 7 --name 'my app'" });
        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"(?m)^workers: 7 +# GUNICORN_CMD_ARGS --workers$", result.Stdout);
        Assert.Matches(@"(?m)^proc_name: my app +# GUNICORN_CMD_ARGS --name$", result.Stdout);
    }

    [Fact]
    public async Task Help_ListsFlagsFromTheRegistry()
    {
        var result = await Binary.RunAsync(["--help"]);
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("-w, --workers INT", result.Stdout);
        Assert.Contains("--limit-request-field_size INT", result.Stdout);
        Assert.Contains("--access-logfile FILE", result.Stdout);
    }
}
