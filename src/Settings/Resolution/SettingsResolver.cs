using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Sections;
using Gunicorn.Settings.Sources;

namespace Gunicorn.Settings;

/// <summary>
/// Resolves settings with gunicorn's precedence: defaults &lt; YAML file &lt; GUNICORN_CMD_ARGS &lt; command line.
/// Every source is read and every value checked before anything is decided, so all errors are reported at once.
/// </summary>
public static class SettingsResolver
{
    public static Resolution Resolve(ResolveRequest request)
    {
        var argv = CommandLineSource.Read(request.Args);
        var envArgs = request.Environment.TryGetValue(ResolveRequest.CmdArgsVariable, out var cmdArgs)
            ? ReadEnvironmentArgs(cmdArgs)
            : new CommandLineResult(new SourceResult([], []), null, false, false);

        var (yaml, configSource) = ReadConfigFile(request, argv, envArgs);
        var errors = new List<SettingsError>();
        errors.AddRange(yaml.Errors);
        errors.AddRange(envArgs.Source.Errors);
        errors.AddRange(argv.Source.Errors);

        var values = new Dictionary<SettingDefinition, ResolvedValue>();
        foreach (var setting in SettingsRegistry.All)
        {
            values[setting] = new ResolvedValue(setting.DefaultIn(request.Environment), DefaultOrigin(setting, request.Environment));
        }
        // Later sources win; within one source, a repeatable flag given several times makes a list.
        foreach (var source in new[] { yaml, envArgs.Source, argv.Source })
        {
            foreach (var group in source.Settings.GroupBy(s => s.Setting))
            {
                var resolved = Parse(group.Key, group.ToList(), errors);
                if (resolved is not null)
                {
                    values[group.Key] = resolved;
                }
            }
        }
        if ((argv.App ?? envArgs.App) is { } app)
        {
            values[ConfigFileSettings.WsgiApp] = new ResolvedValue(app.Text, app.Origin);
        }

        var settings = new ResolvedSettings(values);
        var notices = new List<string>();
        // Cross-setting rules run even when other values failed (those keep their defaults), so all errors show at once.
        settings = CrossRules.Apply(settings, errors, notices);
        return new Resolution(errors.Count == 0 ? settings : null, InReadingOrder(errors), notices, configSource,
            argv.Help || envArgs.Help, argv.Version || envArgs.Version);
    }

    /// <summary>File errors by position, then GUNICORN_CMD_ARGS, then the command line in argument order.</summary>
    private static List<SettingsError> InReadingOrder(List<SettingsError> errors) => errors
        .OrderBy(e => e.Origin.Line > 0 ? 0 : e.Origin.Source.StartsWith(ResolveRequest.CmdArgsVariable, StringComparison.Ordinal) ? 1 : 2)
        .ThenBy(e => e.Origin.Line)
        .ThenBy(e => e.Origin.Column)
        .ToList();

    private static CommandLineResult ReadEnvironmentArgs(string text)
    {
        try
        {
            return CommandLineSource.Read(ShellWords.Split(text), ResolveRequest.CmdArgsVariable);
        }
        catch (FormatException e)
        {
            var error = new SettingsError(new Origin(ResolveRequest.CmdArgsVariable), null,
                $"cannot split into words: {e.Message}. Quote it as a shell would.");
            return new CommandLineResult(new SourceResult([], [error]), null, false, false);
        }
    }

    /// <summary>Picks the config file (-c, else ./gunicorn.yaml, else the built-in one) and reads it.</summary>
    private static (SourceResult Yaml, string ConfigSource) ReadConfigFile(
        ResolveRequest request, CommandLineResult argv, CommandLineResult envArgs)
    {
        var named = argv.Source.Settings.Concat(envArgs.Source.Settings)
            .FirstOrDefault(s => s.Setting == ConfigFileSettings.Config);
        if (named is not null)
        {
            var text = ((ScalarNode)named.Value).Text;
            var path = Path.GetFullPath(text, request.WorkingDirectory);
            if (!File.Exists(path))
            {
                var error = new SettingsError(named.KeyOrigin, ConfigFileSettings.Config.Key,
                    $"config file \"{text}\" does not exist. Check the path (it is relative to the working directory {request.WorkingDirectory}).");
                return (new SourceResult([], [error]), text);
            }
            return (YamlSource.Read(File.ReadAllText(path), text, Path.GetDirectoryName(path)!), text);
        }
        var local = Path.Combine(request.WorkingDirectory, ResolveRequest.DefaultConfigFile);
        if (File.Exists(local))
        {
            return (YamlSource.Read(File.ReadAllText(local), ResolveRequest.DefaultConfigFile, request.WorkingDirectory),
                ResolveRequest.DefaultConfigFile);
        }
        return (YamlSource.Read(BuiltinConfig.Text(), BuiltinConfig.DisplayName, BuiltinConfig.BaseDirectory),
            BuiltinConfig.DisplayName);
    }

    private static ResolvedValue? Parse(SettingDefinition setting, IReadOnlyList<RawSetting> raw, List<SettingsError> errors)
    {
        var first = raw[0];
        if (!setting.Status.IsSupported)
        {
            errors.Add(new SettingsError(first.KeyOrigin, setting.Key,
                $"not supported by gunicorn-net: {setting.Status.Reason}"));
            return null;
        }
        var node = raw.Count > 1 && setting.Repeatable
            ? new SequenceNode(raw.Select(r => r.Value).ToList(), first.Value.Origin)
            : raw[^1].Value;
        try
        {
            return new ResolvedValue(setting.Parse(node), node.Origin);
        }
        catch (SettingValueException e)
        {
            var at = e.At?.Origin ?? node.Origin;
            // A flag origin already names the setting; a YAML position needs the key.
            var error = at.Line > 0 || at.NamesSetting
                ? new SettingsError(at, setting.Key, e.Message)
                : new SettingsError(first.KeyOrigin, setting.Key, e.Message);
            errors.Add(error);
            return null;
        }
    }

    private static Origin DefaultOrigin(SettingDefinition setting, IReadOnlyDictionary<string, string> environment) =>
        setting.EnvDefault is { } variable && environment.ContainsKey(variable)
            ? new Origin($"default (${variable})")
            : Origin.Default;
}
