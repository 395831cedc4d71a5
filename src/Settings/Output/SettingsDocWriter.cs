using System.Text;
using Gunicorn.Settings.Registry;

namespace Gunicorn.Settings.Output;

/// <summary>Writes docs/settings.md from the registry. The file says it is generated; a test fails when it is stale.</summary>
public static class SettingsDocWriter
{
    public static string Write()
    {
        var builder = new StringBuilder();
        builder.Append("""
            # Settings

            > **Generated file**: edit the registry in `src/Settings/Sections/` instead, then run
            > `./scripts/generate.sh`. A test fails when this file is stale.

            Every setting can be written in the YAML file under its key. Those with flags can also be given on the
            command line or in `GUNICORN_CMD_ARGS`. Precedence: defaults < YAML < `GUNICORN_CMD_ARGS` < command line.
            `gunicorn-net --print-config` shows the resolved values and where each came from.

            """);
        foreach (var section in SettingsRegistry.All.GroupBy(s => s.Section).OrderBy(g => g.Key.Order))
        {
            builder.Append($"\n## {section.Key.Title}\n\n{section.Key.Summary}\n");
            foreach (var setting in section)
            {
                builder.Append($"\n### `{setting.Key}`\n\n");
                if (!setting.Status.IsSupported)
                {
                    builder.Append($"**Not supported**: {setting.Status.Reason} Using it is a configuration error.\n\n");
                }
                if (setting.Cli.Count > 0)
                {
                    var meta = setting.Meta is null ? "" : $" {setting.Meta}";
                    builder.Append($"- Command line: {string.Join(", ", setting.Cli.Select(f => $"`{f}{meta}`"))}\n");
                }
                builder.Append($"- Type: {setting.TypeName}\n");
                builder.Append($"- Default: `{setting.Format(setting.DefaultIn(new Dictionary<string, string>()))}`");
                builder.Append(setting.EnvDefault is null ? "\n" : $" (or from `${setting.EnvDefault}`)\n");
                builder.Append('\n').Append(setting.Doc.ReplaceLineEndings(" ").Trim()).Append('\n');
            }
        }
        return builder.ToString();
    }
}
