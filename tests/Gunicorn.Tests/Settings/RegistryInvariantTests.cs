using Gunicorn.Settings;
using Gunicorn.Settings.Records;
using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Sections;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Settings;

public class RegistryInvariantTests
{
    public static readonly TheoryData<string> GunicornSettingsTheIssueNames = new((
        "bind backlog workers worker_class threads worker_connections max_requests max_requests_jitter timeout "
        + "graceful_timeout keepalive limit_request_line limit_request_fields limit_request_field_size reload "
        + "reload_extra_files spew check_config print_config sendfile chdir daemon raw_env pidfile worker_tmp_dir user "
        + "group umask initgroups pythonpath wsgi_app accesslog access_log_format errorlog loglevel capture_output "
        + "logger_class logconfig proc_name forwarded_allow_ips secure_scheme_headers forwarder_headers header_map "
        + "proxy_protocol proxy_allow_ips keyfile certfile ca_certs cert_reqs ciphers http_protocols statsd_host "
        + "statsd_prefix on_starting on_reload when_ready pre_fork post_fork post_worker_init worker_int worker_abort "
        + "pre_exec pre_request post_request child_exit worker_exit nworkers_changed on_exit static "
        + "client_max_body_size client_header_timeout client_body_timeout send_timeout request_buffering "
        + "response_buffering request_buffer_size response_buffer_size preload_app").Split(' '));

    [Theory]
    [MemberData(nameof(GunicornSettingsTheIssueNames))]
    public void Registry_DeclaresSetting(string key) => Assert.Contains(key, SettingsRegistry.ByKey.Keys);

    [Fact]
    public void KeysFlagsAndEnvironmentNames_AreUnique()
    {
        AssertUnique(SettingsRegistry.All.Select(s => s.Key));
        AssertUnique(SettingsRegistry.All.SelectMany(s => s.Cli));
        AssertUnique(SettingsRegistry.All.Where(s => s.EnvDefault is not null).Select(s => s.EnvDefault!));
    }

    [Fact]
    public void EveryDefault_PassesItsOwnRules()
    {
        foreach (var setting in SettingsRegistry.All)
        {
            var problems = setting.Check(setting.DefaultIn(new Dictionary<string, string>())).ToList();
            Assert.True(problems.Count == 0, $"{setting.Key}: {string.Join(" ", problems)}");
        }
    }

    [Fact]
    public void EveryDefault_RoundTripsThroughPrintConfigFormat()
    {
        // What --print-config prints must read back as the same value, or the output is not a usable config.
        foreach (var setting in SettingsRegistry.All.Where(s => s.Status.IsSupported && s != FrontStaticSettings.Static && s != ConfigFileSettings.Config))
        {
            var text = setting.Format(setting.DefaultIn(new Dictionary<string, string>()));
            var reparsed = Resolve.Valid([], workingDirectory: WriteConfig($"{setting.Key}: {text}\n"));
            Assert.Equal(text, setting.Format(reparsed[setting].Value));
        }
    }

    [Fact]
    public void EverySupportedSetting_IsConsumedByTheRuntimeRecords()
    {
        var consumed = ConfigBinder.ConsumedSettings(Resolve.Valid([]));
        var notConsumed = SettingsRegistry.All
            .Where(s => s.Status.IsSupported && !s.Status.IsInherent && s.Section != Section.ConfigFile && !consumed.Contains(s))
            .Select(s => s.Key)
            .ToList();
        Assert.Empty(notConsumed);
    }

    [Fact]
    public void UnsupportedSettings_CarryAReason()
    {
        foreach (var setting in SettingsRegistry.All.Where(s => !s.Status.IsSupported))
        {
            Assert.False(string.IsNullOrWhiteSpace(setting.Status.Reason), setting.Key);
        }
    }

    [Fact]
    public void ShippedDefaultConfig_PassesCheck()
    {
        var resolution = Resolve.With(["-c", RepoPaths.Combine("config", "gunicorn.yaml"), "--check-config"]);
        Assert.True(resolution.IsValid, string.Join("\n", resolution.Errors));
    }

    private static void AssertUnique(IEnumerable<string> names)
    {
        var duplicates = names.GroupBy(n => n).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.Empty(duplicates);
    }

    private static string WriteConfig(string yaml)
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-roundtrip-").FullName;
        File.WriteAllText(Path.Combine(dir, "gunicorn.yaml"), yaml);
        return dir;
    }

    [Fact]
    public void EverySettingDeclaredInTheSections_IsInTheRegistry()
    {
        var declared = typeof(SettingsRegistry).Assembly.GetTypes()
            .Where(t => t.Namespace == "Gunicorn.Settings.Sections")
            .SelectMany(t => t.GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static))
            .Where(f => typeof(SettingDefinition).IsAssignableFrom(f.FieldType))
            .Select(f => ((SettingDefinition)f.GetValue(null)!).Key)
            .ToList();
        Assert.NotEmpty(declared);
        Assert.Equal(declared.Order(), SettingsRegistry.All.Select(s => s.Key).Order());
    }
}
