using Gunicorn.Settings.Registry;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Settings;

/// <summary>defaults &lt; YAML &lt; GUNICORN_CMD_ARGS &lt; command line, for several settings, each layer alone and stacked.</summary>
public class PrecedenceTests
{
    public static readonly TheoryData<string, string?, string?, string?, string, string> Table = new()
    {
        // key, yaml value, GUNICORN_CMD_ARGS, argv, expected (as --print-config renders it), expected origin
        { "workers", null, null, null, "1", "default" },
        { "workers", "3", null, null, "3", "gunicorn.yaml:1:10" },
        { "workers", "3", "--workers 4", null, "4", "GUNICORN_CMD_ARGS --workers" },
        { "workers", "3", "--workers 4", "-w 5", "5", "-w" },
        { "workers", null, null, "-w 5", "5", "-w" },
        { "timeout", null, null, null, "30", "default" },
        { "timeout", "10", "-t 20", null, "20", "GUNICORN_CMD_ARGS -t" },
        { "timeout", "10", null, "--timeout=40", "40", "--timeout" },
        { "bind", null, null, null, "[127.0.0.1:8000]", "default" },
        { "bind", "[\"unix:/tmp/a.sock\"]", null, null, "[unix:/tmp/a.sock]", "gunicorn.yaml:1:7" },
        { "bind", "[\"unix:/tmp/a.sock\"]", "-b 0.0.0.0:1 -b [::1]:2", null, "[0.0.0.0:1, \"[::1]:2\"]", "GUNICORN_CMD_ARGS -b" },
        { "bind", "[\"unix:/tmp/a.sock\"]", "-b 0.0.0.0:1", "--bind 127.0.0.1:9", "[127.0.0.1:9]", "--bind" },
        { "keepalive", "5", null, null, "5", "gunicorn.yaml:1:12" },
        { "keepalive", "5", "--keep-alive 6", "--keep-alive 7", "7", "--keep-alive" },
        { "loglevel", "debug", "--log-level error", null, "error", "GUNICORN_CMD_ARGS --log-level" },
        { "max_requests", "100", null, "--max-requests 0", "0", "--max-requests" },
        { "sendfile", "true", null, "--no-sendfile", "false", "--no-sendfile" },
        { "reload", null, "--reload", null, "true", "GUNICORN_CMD_ARGS --reload" },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void LaterSourcesWin(string key, string? yaml, string? cmdArgs, string? argv, string expected, string expectedOrigin)
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-precedence-").FullName;
        File.WriteAllText(Path.Combine(dir, "gunicorn.yaml"), yaml is null ? "" : $"{key}: {yaml}\n");
        var environment = new Dictionary<string, string>();
        if (cmdArgs is not null)
        {
            environment["GUNICORN_CMD_ARGS"] = cmdArgs;
        }
        var settings = Resolve.Valid(argv?.Split(' ') ?? [], environment, dir);
        var setting = SettingsRegistry.ByKey[key];
        Assert.Equal(expected, setting.Format(settings[setting].Value));
        Assert.Equal(expectedOrigin, settings[setting].Origin.ToString());
    }

    [Theory]
    [InlineData("WEB_CONCURRENCY", "6", "workers", "6", "default ($WEB_CONCURRENCY)")]
    [InlineData("PORT", "9000", "bind", "[0.0.0.0:9000]", "default ($PORT)")]
    [InlineData("FORWARDED_ALLOW_IPS", "10.0.0.0/8,*", "forwarded_allow_ips", "[10.0.0.0/8, \"*\"]", "default ($FORWARDED_ALLOW_IPS)")]
    public void EnvironmentDerivedDefaults_ApplyBelowEveryOtherSource(string variable, string value, string key, string expected, string origin)
    {
        var environment = new Dictionary<string, string> { [variable] = value };
        var setting = SettingsRegistry.ByKey[key];
        var settings = Resolve.Valid([], environment);
        Assert.Equal(expected, setting.Format(settings[setting].Value));
        Assert.Equal(origin, settings[setting].Origin.ToString());
    }

    [Fact]
    public void PositionalApp_OverridesWsgiApp()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-precedence-").FullName;
        File.WriteAllText(Path.Combine(dir, "gunicorn.yaml"), "wsgi_app: fromyaml:app\n");
        var settings = Resolve.Valid(["-w", "2", "demo:app"], workingDirectory: dir);
        Assert.Equal("demo:app", settings.Get(Gunicorn.Settings.Sections.ConfigFileSettings.WsgiApp));
    }
}
