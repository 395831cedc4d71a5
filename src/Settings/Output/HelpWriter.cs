using System.Text;
using Gunicorn.Settings.Registry;

namespace Gunicorn.Settings.Output;

/// <summary>The --help text, generated from the registry.</summary>
public static class HelpWriter
{
    public static string Write()
    {
        var builder = new StringBuilder("""
            usage: gunicorn-net [OPTIONS] [APP]

            APP is module:callable (a Python WSGI app) or path/to/App.dll (an ASP.NET Core app).
            Settings come from defaults < the YAML file (-c) < GUNICORN_CMD_ARGS < these options.

            options:
              -h, --help            show this help and exit
              -v, --version         show the version and exit

            """);
        foreach (var section in SettingsRegistry.All.Where(s => s.Cli.Count > 0 && s.Status.IsSupported).GroupBy(s => s.Section))
        {
            builder.Append(section.Key.Title).Append(":\n");
            foreach (var setting in section)
            {
                var flags = string.Join(", ", setting.Cli) + (setting.Meta is null ? "" : $" {setting.Meta}");
                var summary = FirstSentence(setting.Doc);
                builder.Append("  ").Append(flags.PadRight(34)).Append(' ').Append(summary).Append('\n');
            }
            builder.Append('\n');
        }
        return builder.ToString();
    }

    private static string FirstSentence(string doc)
    {
        var flat = doc.ReplaceLineEndings(" ");
        var end = flat.IndexOf(". ", StringComparison.Ordinal);
        return end < 0 ? flat.TrimEnd('.') : flat[..end];
    }
}
