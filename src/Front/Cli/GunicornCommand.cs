using System.Reflection;
using Gunicorn.Shared.Logging;
using Gunicorn.Front.Hosting;
using Gunicorn.Settings;
using Gunicorn.Settings.Output;
using Gunicorn.Settings.Records;

namespace Gunicorn.Front.Cli;

/// <summary>The gunicorn-net command: resolve settings, then check, print or run.</summary>
public static class GunicornCommand
{
    public const int ConfigErrorExitCode = 1;

    public static async Task<int> RunAsync(string[] args)
    {
        if (args is ["ctl", .. var control])
        {
            return await Control.ControlClient.RunAsync(control);
        }
        var resolution = SettingsResolver.Resolve(ResolveRequest.FromProcess(args));
        if (resolution.Help)
        {
            Console.Out.Write(HelpWriter.Write());
            return 0;
        }
        if (resolution.Version)
        {
            Console.Out.WriteLine($"gunicorn-net {Version}");
            return 0;
        }
        if (!resolution.IsValid)
        {
            ReportErrors(resolution);
            return ConfigErrorExitCode;
        }
        var settings = resolution.Settings!;
        foreach (var notice in resolution.Notices)
        {
            Console.Error.WriteLine($"[gunicorn-net] [WARNING] {notice}");
        }
        if (settings.Get(Gunicorn.Settings.Sections.ConfigFileSettings.PrintConfig))
        {
            Console.Out.Write(ConfigReport.PrintConfig(resolution));
            return 0;
        }
        var config = ConfigBinder.Bind(settings, resolution.ConfigSource);
        if (settings.Get(Gunicorn.Settings.Sections.ConfigFileSettings.CheckConfig))
        {
            // gunicorn's --check-config loads the app too, and fails when it cannot.
            if (await AppImportCheck.ProblemAsync(config) is { } problem)
            {
                Console.Error.WriteLine($"App failed to load: {problem}");
                return 1;
            }
            Console.Out.WriteLine($"Config OK: {resolution.ConfigSource}");
            return 0;
        }
        if (config.Process.Daemon)
        {
            if (!Daemon.IsDetachedCopy)
            {
                Console.Error.WriteLine($"gunicorn-net: daemonized as pid {Daemon.Detach(args, config.Logging.EnableStdioInheritance)}.");
                return 0;
            }
            Daemon.EnterOwnSession(config.Logging.EnableStdioInheritance);
        }
        return await MasterHost.RunAsync(config, () => Reload(args));
    }

    /// <summary>Re-resolves the configuration from the same sources for a reload; logs every error and returns null when invalid.</summary>
    private static GunicornConfig? Reload(string[] args)
    {
        var resolution = SettingsResolver.Resolve(ResolveRequest.FromProcess(args));
        if (!resolution.IsValid)
        {
            foreach (var error in resolution.Errors)
            {
                ErrorLog.Error($"Reload: {error}");
            }
            return null;
        }
        return ConfigBinder.Bind(resolution.Settings!, resolution.ConfigSource);
    }

    private static void ReportErrors(Resolution resolution) => Console.Error.Write(ConfigReport.Errors(resolution));

    public static string Version =>
        typeof(GunicornCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? "unknown";
}
