using Gunicorn.Settings.Registry;

namespace Gunicorn.Settings.Sources;

/// <summary>A value for one setting from one source, not yet parsed. <paramref name="KeyOrigin"/> is where the key (or flag) was written.</summary>
public sealed record RawSetting(SettingDefinition Setting, ValueNode Value, Origin KeyOrigin);

/// <summary>What one source produced: its settings in order, and the problems it found reading them.</summary>
public sealed record SourceResult(IReadOnlyList<RawSetting> Settings, IReadOnlyList<SettingsError> Errors);
