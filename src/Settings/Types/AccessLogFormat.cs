using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Gunicorn.Settings.Registry;

namespace Gunicorn.Settings.Types;

/// <summary>One piece of a compiled access log format: literal text, or an atom such as <c>h</c> or <c>{user-agent}i</c>.</summary>
public sealed record AccessLogSegment(string? Literal, string? Atom);

/// <summary>
/// gunicorn's access_log_format: Python %-formatting with <c>%(atom)s</c> placeholders and <c>%%</c> for '%'.
/// Parsed once when the configuration loads; an unknown atom is a configuration error.
/// </summary>
public static partial class AccessLogFormat
{
    /// <summary>gunicorn's atoms (besides the {name}i, {name}o and {name}e families).</summary>
    public static readonly IReadOnlySet<string> Atoms = new HashSet<string>
    {
        "h", "l", "u", "t", "r", "m", "U", "q", "H", "s", "B", "b", "f", "a", "T", "D", "M", "L", "p",
    };

    public static IReadOnlyList<AccessLogSegment> Compile(string format)
    {
        var segments = new List<AccessLogSegment>();
        var literal = new System.Text.StringBuilder();
        var position = 0;
        foreach (Match match in Placeholder().Matches(format))
        {
            RequireNoStrayPercent(format, position, match.Index);
            literal.Append(format, position, match.Index - position);
            position = match.Index + match.Length;
            if (match.Value == "%%")
            {
                literal.Append('%');
                continue;
            }
            var atom = match.Groups["atom"].Value;
            if (!IsKnown(atom))
            {
                throw new SettingValueException(
                    $"unknown atom %({atom})s. Use gunicorn's atoms: {string.Join(" ", Atoms)}, {{header}}i, {{header}}o or {{variable}}e.");
            }
            if (literal.Length > 0)
            {
                segments.Add(new AccessLogSegment(literal.ToString(), null));
                literal.Clear();
            }
            segments.Add(new AccessLogSegment(null, atom));
        }
        RequireNoStrayPercent(format, position, format.Length);
        literal.Append(format, position, format.Length - position);
        if (literal.Length > 0)
        {
            segments.Add(new AccessLogSegment(literal.ToString(), null));
        }
        return segments;
    }

    private static void RequireNoStrayPercent(string format, int from, int to)
    {
        if (format.IndexOf('%', from, to - from) >= 0)
        {
            throw new SettingValueException("a '%' that is not part of %(atom)s; write %% for a literal percent sign.");
        }
    }

    private static bool IsKnown(string atom) =>
        Atoms.Contains(atom) || (atom.Length > 3 && atom[0] == '{' && atom[^2] == '}' && atom[^1] is 'i' or 'o' or 'e');

    public static readonly ValueType<string> Type = Scalars.Text with
    {
        Name = "access log format",
        Parse = node =>
        {
            var text = Scalars.Text.Parse(node);
            Compile(text);
            return text;
        },
    };

    [GeneratedRegex(@"%%|%\((?<atom>[^)]*)\)s")]
    private static partial Regex Placeholder();
}
