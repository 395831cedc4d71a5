using Gunicorn.Settings.Registry;

namespace Gunicorn.Settings;

/// <summary>One configuration problem, with where it was written. Rendered as <c>origin: key: problem fix</c>.</summary>
public sealed record SettingsError(Origin Origin, string? Key, string Message)
{
    public override string ToString() =>
        Key is null || Origin.NamesSetting ? $"{Origin}: {Message}" : $"{Origin}: {Key}: {Message}";
}
