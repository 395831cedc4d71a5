using System.Globalization;
using System.Text;

namespace Gunicorn.Settings.Types;

/// <summary>Renders values as single-line YAML, quoting strings only where YAML would misread them.</summary>
public static class Yaml
{
    public static string Scalar(string? text)
    {
        if (text is null)
        {
            return "null";
        }
        return NeedsQuotes(text) ? Quote(text) : text;
    }

    public static string Quote(string text)
    {
        var builder = new StringBuilder("\"");
        foreach (var c in text)
        {
            builder.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\t' => "\\t",
                '\r' => "\\r",
                _ when c < ' ' => $"\\x{(int)c:x2}",
                _ => c.ToString(),
            });
        }
        return builder.Append('"').ToString();
    }

    public static string Number(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);

    public static string Bool(bool value) => value ? "true" : "false";

    public static string List(IEnumerable<string> renderedItems) => $"[{string.Join(", ", renderedItems)}]";

    public static string Map(IEnumerable<KeyValuePair<string, string>> renderedEntries) =>
        $"{{{string.Join(", ", renderedEntries.Select(e => $"{e.Key}: {e.Value}"))}}}";

    private static readonly string[] ReservedWords =
        ["", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "yes", "no", "on", "off", "y", "n"];

    private static bool NeedsQuotes(string text) =>
        ReservedWords.Contains(text)
        || double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
        || "-?:,[]{}#&*!|>'\"%@`".Contains(text[0])
        || char.IsWhiteSpace(text[0]) || char.IsWhiteSpace(text[^1]) || text[^1] == ':'
        || text.Contains(": ") || text.Contains(" #")
        || text.IndexOfAny([',', '[', ']', '{', '}', '"', '\\']) >= 0
        || text.Any(char.IsControl);
}
