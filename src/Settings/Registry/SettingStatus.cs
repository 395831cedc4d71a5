namespace Gunicorn.Settings.Registry;

/// <summary>Whether gunicorn-net implements a setting. Unsupported settings are errors when used, never silently ignored.</summary>
public sealed record SettingStatus(bool IsSupported, string? Reason = null)
{
    public static readonly SettingStatus Supported = new(true);

    public static SettingStatus Unsupported(string reason) => new(false, reason);

    /// <summary>
    /// Accepted, with nothing to configure: every value its rules let through is what gunicorn-net always does
    /// (<paramref name="why"/> says how), so no runtime record carries it. The registry test lets only these go unbound.
    /// </summary>
    public static SettingStatus Inherent(string why) => new(true, why) { IsInherent = true };

    public bool IsInherent { get; private init; }
}
