using System.Text;
using Gunicorn.Settings.Registry;

namespace Gunicorn.Settings.Output;

/// <summary>Writes the resolved configuration as YAML, each value followed by a comment saying where it came from.</summary>
public static class PrintConfigWriter
{
    public static string Write(ResolvedSettings settings)
    {
        var lines = SettingsRegistry.All
            .Where(s => s.Status.IsSupported && s.Section != Section.ConfigFile || s == Sections.ConfigFileSettings.WsgiApp)
            .Select(s => (Text: $"{s.Key}: {s.Format(settings[s].Value)}", Origin: settings[s].Origin.ToString()))
            .ToList();
        // Align origins in a column, except after the few values too long for it.
        var width = lines.Select(l => l.Text.Length).Where(n => n <= 48).Max() + 2;
        var builder = new StringBuilder();
        foreach (var (text, origin) in lines)
        {
            builder.Append(text.PadRight(width)).Append(text.Length >= width ? "  # " : "# ").Append(origin).Append('\n');
        }
        return builder.ToString();
    }
}
