namespace Gunicorn.Settings;

/// <summary>The inputs of one resolution: argv, the environment and where relative paths start.</summary>
public sealed record ResolveRequest(
    IReadOnlyList<string> Args,
    IReadOnlyDictionary<string, string> Environment,
    string WorkingDirectory)
{
    public const string CmdArgsVariable = "GUNICORN_CMD_ARGS";
    public const string DefaultConfigFile = "gunicorn.yaml";

    public static ResolveRequest FromProcess(IReadOnlyList<string> args) => new(
        args,
        System.Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? ""),
        System.Environment.CurrentDirectory);
}

/// <summary>The outcome: settings when valid, otherwise every error found. Notices are changes made on the operator's behalf.</summary>
public sealed record Resolution(
    ResolvedSettings? Settings,
    IReadOnlyList<SettingsError> Errors,
    IReadOnlyList<string> Notices,
    string ConfigSource,
    bool Help,
    bool Version)
{
    public bool IsValid => Errors.Count == 0 && Settings is not null;
}
