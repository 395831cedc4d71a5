using Gunicorn.Settings;

namespace Gunicorn.Tests.Infrastructure;

/// <summary>Runs the settings resolver in-process with an explicit environment (never the test runner's own).</summary>
public static class Resolve
{
    public static Resolution With(string[] args, IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null) =>
        SettingsResolver.Resolve(new ResolveRequest(
            args,
            environment ?? new Dictionary<string, string>(),
            workingDirectory ?? EmptyDirectory.Value));

    public static ResolvedSettings Valid(string[] args, IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var resolution = With(args, environment, workingDirectory);
        Assert.True(resolution.IsValid, string.Join("\n", resolution.Errors));
        return resolution.Settings!;
    }

    /// <summary>A working directory without a gunicorn.yaml, so the built-in config applies.</summary>
    private static readonly Lazy<string> EmptyDirectory = new(() =>
        Directory.CreateTempSubdirectory("gunicorn-net-tests-").FullName);
}
