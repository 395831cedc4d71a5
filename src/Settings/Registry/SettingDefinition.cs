using System.Text.Json.Nodes;

namespace Gunicorn.Settings.Registry;

/// <summary>
/// One setting, declared once: its YAML key (gunicorn's name), command-line flags, default, parser, rules and doc.
/// Everything else (the CLI parser, YAML binding, --print-config, docs/settings.md, the JSON schema) is derived from it.
/// </summary>
public abstract class SettingDefinition
{
    /// <summary>
    /// Every setting in the order it was declared, as gunicorn's KNOWN_SETTINGS: each declaration adds itself when its
    /// section class is initialized (see <see cref="SettingsRegistry"/>), so no reflection is needed to find them.
    /// </summary>
    internal static readonly List<SettingDefinition> Declared = [];

    private static readonly Lock DeclaredGate = new();

    protected SettingDefinition()
    {
        lock (DeclaredGate)
        {
            Declared.Add(this);
        }
    }

    /// <summary>The YAML key; the same as gunicorn's setting name.</summary>
    public required string Key { get; init; }

    public required Section Section { get; init; }

    /// <summary>Command-line flags in gunicorn's spelling, e.g. <c>-w</c>, <c>--workers</c>.</summary>
    public IReadOnlyList<string> Cli { get; init; } = [];

    /// <summary>The placeholder in --help (<c>INT</c>); null for flags that take no value.</summary>
    public string? Meta { get; init; }

    /// <summary>For flags without a value: the value the flag sets (<c>true</c>, or <c>false</c> for <c>--no-sendfile</c>).</summary>
    public string FlagValue { get; init; } = "true";

    /// <summary>True when repeating the flag appends to a list (<c>-b a -b b</c>).</summary>
    public bool Repeatable { get; init; }

    /// <summary>The environment variable the default is read from, if any (gunicorn's PORT, WEB_CONCURRENCY, ...).</summary>
    public string? EnvDefault { get; init; }

    public SettingStatus Status { get; init; } = SettingStatus.Supported;

    /// <summary>One paragraph for operators; goes to docs/settings.md and --help.</summary>
    public required string Doc { get; init; }

    public bool TakesValue => Meta is not null;

    /// <summary>Parses and validates a raw value. Throws <see cref="SettingValueException"/>.</summary>
    public abstract object? Parse(ValueNode node);

    /// <summary>The default in this environment (some defaults come from environment variables).</summary>
    public abstract object? DefaultIn(IReadOnlyDictionary<string, string> environment);

    /// <summary>Checks a value against the setting's rules; returns the problems found.</summary>
    public abstract IEnumerable<string> Check(object? value);

    /// <summary>Renders a value as YAML (flow style, one line).</summary>
    public abstract string Format(object? value);

    /// <summary>The JSON Schema of the YAML value.</summary>
    public abstract JsonObject Schema();

    /// <summary>The type's name for docs, e.g. <c>integer</c>.</summary>
    public abstract string TypeName { get; }

    public override string ToString() => Key;
}
