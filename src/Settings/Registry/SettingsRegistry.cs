using System.Collections.Frozen;
using System.Reflection;

namespace Gunicorn.Settings.Registry;

/// <summary>Every setting, gathered from the static fields of the classes in <c>Gunicorn.Settings.Sections</c>.</summary>
public static class SettingsRegistry
{
    /// <summary>All settings, in docs order: by section, then by declaration.</summary>
    public static readonly IReadOnlyList<SettingDefinition> All = typeof(SettingsRegistry).Assembly.GetTypes()
        .Where(t => t.Namespace == "Gunicorn.Settings.Sections")
        .SelectMany(t => t.GetFields(BindingFlags.Public | BindingFlags.Static))
        .Where(f => typeof(SettingDefinition).IsAssignableFrom(f.FieldType))
        .OrderBy(f => f.MetadataToken)
        .Select(f => (SettingDefinition)f.GetValue(null)!)
        .OrderBy(s => s.Section.Order)
        .ToList();

    public static readonly FrozenDictionary<string, SettingDefinition> ByKey = All.ToFrozenDictionary(s => s.Key);

    public static readonly FrozenDictionary<string, SettingDefinition> ByFlag = All
        .SelectMany(s => s.Cli.Select(flag => KeyValuePair.Create(flag, s)))
        .ToFrozenDictionary();
}
