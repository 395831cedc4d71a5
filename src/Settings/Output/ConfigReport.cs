using System.Text;

namespace Gunicorn.Settings.Output;

/// <summary>The texts --check-config and --print-config show, shared by the command and the golden tests.</summary>
public static class ConfigReport
{
    public static string Errors(Resolution resolution)
    {
        var builder = new StringBuilder();
        foreach (var error in resolution.Errors)
        {
            builder.Append("Error: ").Append(error).Append('\n');
        }
        var count = resolution.Errors.Count;
        builder.Append($"{count} configuration error{(count == 1 ? "" : "s")} in {resolution.ConfigSource}; ")
            .Append("nothing was started. Fix them and run again, or check with --check-config.\n");
        return builder.ToString();
    }

    public static string PrintConfig(Resolution resolution) =>
        $"# config: {resolution.ConfigSource}\n" + PrintConfigWriter.Write(resolution.Settings!);
}
