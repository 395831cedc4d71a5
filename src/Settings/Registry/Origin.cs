namespace Gunicorn.Settings.Registry;

/// <summary>Where a value came from: a YAML position, a command-line flag, an environment variable or the default.</summary>
public sealed record Origin(string Source, int Line = 0, int Column = 0)
{
    /// <summary>The origin of values nobody set.</summary>
    public static readonly Origin Default = new("default");

    /// <summary>True when the origin is a flag such as <c>--workers</c>, which already names the setting in messages.</summary>
    public bool NamesSetting { get; init; }

    /// <summary>The directory relative paths in this value are resolved against (the YAML file's directory, or the working directory).</summary>
    public string BaseDirectory { get; init; } = Environment.CurrentDirectory;

    /// <summary>Resolves a path written at this origin.</summary>
    public string ResolvePath(string path) => Path.GetFullPath(path, BaseDirectory);

    public static Origin Flag(string flag, string? via = null) =>
        new(via is null ? flag : $"{via} {flag}") { NamesSetting = true };

    public override string ToString() => Line > 0 ? $"{Source}:{Line}:{Column}" : Source;
}
