using Gunicorn.Settings.Registry;

namespace Gunicorn.Settings.Sources;

/// <summary>What the command line asked for besides settings.</summary>
public sealed record CommandLineResult(
    SourceResult Source,
    ScalarNode? App,
    bool Help,
    bool Version);

/// <summary>
/// Parses gunicorn-style arguments with the flags declared in the registry: <c>--flag value</c>, <c>--flag=value</c>,
/// <c>-w 3</c>, <c>-w3</c>, value-less boolean flags, one positional APP, and <c>--</c> to end options.
/// </summary>
public static class CommandLineSource
{
    public const string HelpFlag = "--help";
    public const string VersionFlag = "--version";

    /// <param name="via">Null for argv; "GUNICORN_CMD_ARGS" when the words came from that variable (it appears in origins).</param>
    public static CommandLineResult Read(IReadOnlyList<string> args, string? via = null)
    {
        var settings = new List<RawSetting>();
        var errors = new List<SettingsError>();
        ScalarNode? app = null;
        bool help = false, version = false, optionsEnded = false;
        var positionalOrigin = new Origin(via is null ? "APP argument" : $"{via} APP argument");

        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (optionsEnded || !arg.StartsWith('-') || arg == "-")
            {
                if (app is not null)
                {
                    errors.Add(new SettingsError(positionalOrigin, null,
                        $"only one APP argument is allowed, got \"{app.Text}\" and \"{arg}\". Quote values that contain spaces."));
                }
                app ??= new ScalarNode(arg, positionalOrigin);
                continue;
            }
            switch (arg)
            {
                case "--":
                    optionsEnded = true;
                    continue;
                case "-h" or HelpFlag:
                    help = true;
                    continue;
                case "-v" or VersionFlag:
                    version = true;
                    continue;
            }

            var (flag, inlineValue) = SplitFlag(arg);
            if (!SettingsRegistry.ByFlag.TryGetValue(flag, out var setting))
            {
                errors.Add(new SettingsError(Origin.Flag(flag, via), null,
                    $"unknown option.{Suggestions.DidYouMean(flag, SettingsRegistry.ByFlag.Keys)} Run gunicorn-net --help for the list."));
                continue;
            }
            var origin = Origin.Flag(flag, via);
            if (!setting.TakesValue)
            {
                if (inlineValue is not null)
                {
                    errors.Add(new SettingsError(origin, setting.Key, $"takes no value, got \"{inlineValue}\"."));
                    continue;
                }
                settings.Add(new RawSetting(setting, new ScalarNode(setting.FlagValue, origin), origin));
                continue;
            }
            if (inlineValue is null)
            {
                if (i + 1 >= args.Count)
                {
                    errors.Add(new SettingsError(origin, setting.Key, $"needs a value ({setting.Meta})."));
                    continue;
                }
                inlineValue = args[++i];
            }
            settings.Add(new RawSetting(setting, new ScalarNode(inlineValue, origin), origin));
        }
        return new CommandLineResult(new SourceResult(settings, errors), app, help, version);
    }

    /// <summary>Splits <c>--flag=value</c> and <c>-w3</c>; other forms have no inline value.</summary>
    private static (string Flag, string? Value) SplitFlag(string arg)
    {
        if (arg.StartsWith("--", StringComparison.Ordinal))
        {
            var equals = arg.IndexOf('=');
            return equals < 0 ? (arg, null) : (arg[..equals], arg[(equals + 1)..]);
        }
        if (arg.Length > 2 && SettingsRegistry.ByFlag.TryGetValue(arg[..2], out var shortSetting) && shortSetting.TakesValue)
        {
            return (arg[..2], arg[2..]);
        }
        return (arg, null);
    }
}
