using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Gunicorn.Settings.Registry;

namespace Gunicorn.Settings.Types;

/// <summary>Durations, byte sizes and octal modes, written the way nginx and gunicorn operators write them.</summary>
public static partial class Quantities
{
    /// <summary>Seconds as a number (<c>30</c>, <c>0.5</c>) or with a unit (<c>500ms</c>, <c>30s</c>, <c>2m</c>, <c>1h</c>).</summary>
    public static readonly ValueType<double> Seconds = new(
        "duration",
        node =>
        {
            var scalar = Expect.Scalar(node, "a duration such as 30, 30s, 500ms or 2m");
            var match = DurationPattern().Match(scalar.Text.Trim());
            if (!match.Success)
            {
                throw new SettingValueException(
                    $"expected a duration such as 30, 30s, 500ms or 2m, got {scalar.Describe()}.");
            }
            var number = double.Parse(match.Groups["n"].Value, CultureInfo.InvariantCulture);
            return match.Groups["u"].Value switch
            {
                "ms" => number / 1000,
                "m" => number * 60,
                "h" => number * 3600,
                _ => number,
            };
        },
        Yaml.Number,
        () => new JsonObject
        {
            ["type"] = new JsonArray("number", "string"),
            ["pattern"] = DurationRegex,
        });

    /// <summary>Bytes as a number or with nginx's units (<c>512k</c>, <c>1m</c>, <c>2g</c>); 0 often means unlimited.</summary>
    public static readonly ValueType<long> Bytes = new(
        "size",
        node =>
        {
            var scalar = Expect.Scalar(node, "a size such as 1048576, 512k, 10m or 1g");
            var match = SizePattern().Match(scalar.Text.Trim());
            if (!match.Success)
            {
                throw new SettingValueException(
                    $"expected a size such as 1048576, 512k, 10m or 1g, got {scalar.Describe()}.");
            }
            var number = long.Parse(match.Groups["n"].Value, CultureInfo.InvariantCulture);
            return match.Groups["u"].Value.ToLowerInvariant() switch
            {
                "k" => number * 1024,
                "m" => number * 1024 * 1024,
                "g" => number * 1024 * 1024 * 1024,
                _ => number,
            };
        },
        FormatBytes,
        () => new JsonObject
        {
            ["type"] = new JsonArray("integer", "string"),
            ["pattern"] = SizeRegex,
        });

    /// <summary>A file mode mask such as <c>0o022</c>, <c>022</c> or a decimal integer, as gunicorn's umask.</summary>
    public static readonly ValueType<int> Octal = new(
        "octal integer",
        node =>
        {
            var scalar = Expect.Scalar(node, "an octal number such as 0o022");
            var text = scalar.Text.Trim();
            try
            {
                if (text.StartsWith("0o", StringComparison.OrdinalIgnoreCase))
                {
                    return Convert.ToInt32(text[2..], 8);
                }
                if (text.StartsWith('0') && text.Length > 1)
                {
                    return Convert.ToInt32(text[1..], 8);
                }
                return int.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);
            }
            catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
            {
                throw new SettingValueException($"expected an octal number such as 0o022, got {scalar.Describe()}.");
            }
        },
        value => "0o" + Convert.ToString(value, 8).PadLeft(3, '0'),
        () => new JsonObject { ["type"] = new JsonArray("integer", "string") });

    private static string FormatBytes(long value) =>
        value != 0 && value % (1024 * 1024 * 1024) == 0 ? $"{value / (1024 * 1024 * 1024)}g"
        : value != 0 && value % (1024 * 1024) == 0 ? $"{value / (1024 * 1024)}m"
        : value != 0 && value % 1024 == 0 ? $"{value / 1024}k"
        : value.ToString(CultureInfo.InvariantCulture);

    private const string DurationRegex = @"^(?<n>[0-9]+(\.[0-9]+)?)\s*(?<u>ms|s|m|h)?$";
    private const string SizeRegex = @"^(?<n>[0-9]+)\s*(?<u>[kKmMgG])?$";

    [GeneratedRegex(DurationRegex)]
    private static partial Regex DurationPattern();

    [GeneratedRegex(SizeRegex)]
    private static partial Regex SizePattern();
}
