namespace Gunicorn.Settings.Registry;

/// <summary>Whether gunicorn-net implements a setting. Unsupported settings are errors when used, never silently ignored.</summary>
public sealed record SettingStatus(bool IsSupported, string? Reason = null)
{
    public static readonly SettingStatus Supported = new(true);

    public static SettingStatus Unsupported(string reason) => new(false, reason);
}
