using System.Collections.Frozen;
using Gunicorn.Settings.Registry;

namespace Gunicorn.Settings;

/// <summary>A value and where it came from.</summary>
public sealed record ResolvedValue(object? Value, Origin Origin);

/// <summary>Every setting's final value and origin; immutable.</summary>
public sealed class ResolvedSettings
{
    private readonly FrozenDictionary<SettingDefinition, ResolvedValue> _values;

    public ResolvedSettings(IDictionary<SettingDefinition, ResolvedValue> values)
    {
        _values = values.ToFrozenDictionary();
    }

    public T Get<T>(Setting<T> setting) => (T)_values[setting].Value!;

    public ResolvedValue this[SettingDefinition setting] => _values[setting];

    /// <summary>A copy with some values replaced (used by cross-setting rules such as threads -> gthread).</summary>
    public ResolvedSettings With<T>(Setting<T> setting, T value, Origin origin)
    {
        var copy = _values.ToDictionary();
        copy[setting] = new ResolvedValue(value, origin);
        return new ResolvedSettings(copy);
    }
}
