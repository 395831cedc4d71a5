using System.Globalization;
using System.Text.Json.Nodes;
using Gunicorn.Settings.Registry;

namespace Gunicorn.Settings.Types;

/// <summary>Integers, booleans, strings and choices.</summary>
public static class Scalars
{
    public static readonly ValueType<int> Int = new(
        "integer",
        node =>
        {
            var scalar = Expect.Scalar(node, "an integer");
            return int.TryParse(scalar.Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
                ? value
                : throw new SettingValueException($"expected an integer, got {scalar.Describe()}.");
        },
        value => value.ToString(CultureInfo.InvariantCulture),
        () => new JsonObject { ["type"] = "integer" });

    /// <summary>A positive count, or <c>auto</c> (null) for one the machine decides.</summary>
    public static readonly ValueType<int?> CountOrAuto = new(
        "integer or auto",
        node =>
        {
            var scalar = Expect.Scalar(node, "a positive integer or auto");
            if (string.Equals(scalar.Text, "auto", StringComparison.OrdinalIgnoreCase))
            {
                return null;
            }
            return int.TryParse(scalar.Text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= 1
                ? value
                : throw new SettingValueException($"expected a positive integer or auto, got {scalar.Describe()}.");
        },
        value => value?.ToString(CultureInfo.InvariantCulture) ?? "auto",
        () => new JsonObject
        {
            ["oneOf"] = new JsonArray(
                new JsonObject { ["type"] = "integer", ["minimum"] = 1 },
                new JsonObject { ["type"] = "string", ["enum"] = new JsonArray("auto") }),
        });

    private static readonly string[] TrueWords = ["true", "yes", "on", "1", "y"];
    private static readonly string[] FalseWords = ["false", "no", "off", "0", "n"];

    public static readonly ValueType<bool> Bool = new(
        "boolean",
        node =>
        {
            var scalar = Expect.Scalar(node, "true or false");
            var text = scalar.Text.ToLowerInvariant();
            return TrueWords.Contains(text) ? true
                : FalseWords.Contains(text) ? false
                : throw new SettingValueException($"expected true or false, got {scalar.Describe()}.");
        },
        Yaml.Bool,
        () => new JsonObject { ["type"] = "boolean" });

    public static readonly ValueType<string> Text = new(
        "string",
        node => Expect.Scalar(node, "a string").Text,
        Yaml.Scalar,
        () => new JsonObject { ["type"] = "string" });

    /// <summary>A string that may be unset (YAML <c>null</c> or empty).</summary>
    public static readonly ValueType<string?> OptionalText = new(
        "string or null",
        node => node is ScalarNode { IsNull: true } ? null : Expect.Scalar(node, "a string").Text,
        Yaml.Scalar,
        () => new JsonObject { ["type"] = new JsonArray("string", "null") });

    /// <summary>One of a fixed set of words, compared case-insensitively and stored in the listed spelling.</summary>
    public static ValueType<string> Choice(params string[] choices) => new(
        "one of " + string.Join(", ", choices),
        node =>
        {
            var scalar = Expect.Scalar(node, "one of " + string.Join(", ", choices));
            return choices.FirstOrDefault(c => string.Equals(c, scalar.Text, StringComparison.OrdinalIgnoreCase))
                ?? throw new SettingValueException(
                    $"expected one of {string.Join(", ", choices)}, got {scalar.Describe()}.");
        },
        Yaml.Scalar,
        () => new JsonObject { ["type"] = "string", ["enum"] = new JsonArray(choices.Select(c => (JsonNode)c!).ToArray()) });
}
