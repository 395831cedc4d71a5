using System.Net;
using System.Text.Json.Nodes;
using Gunicorn.Settings.Registry;

namespace Gunicorn.Settings.Types;

/// <summary>Lists and mappings of strings.</summary>
public static class Collections
{
    /// <summary>A list of strings; a single string is a one-item list.</summary>
    public static readonly ValueType<IReadOnlyList<string>> TextList = new(
        "list of strings",
        node => Expect.ScalarList(node, "a string").Select(s => s.Text).ToList(),
        FormatList,
        () => new JsonObject
        {
            ["type"] = new JsonArray("array", "string"),
            ["items"] = new JsonObject { ["type"] = "string" },
        });

    /// <summary>A list written as YAML list or as one comma-separated string, as gunicorn's <c>forwarded_allow_ips</c>.</summary>
    public static readonly ValueType<IReadOnlyList<string>> CommaList = new(
        "comma-separated list",
        node => Expect.ScalarList(node, "a string")
            .SelectMany(s => s.Text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .ToList(),
        FormatList,
        () => new JsonObject
        {
            ["type"] = new JsonArray("array", "string"),
            ["items"] = new JsonObject { ["type"] = "string" },
        });

    /// <summary>IP addresses or CIDR networks, or <c>*</c> for any peer.</summary>
    public static readonly ValueType<IReadOnlyList<string>> AddressList = CommaList with
    {
        Name = "list of IP addresses or networks",
        Parse = node =>
        {
            var items = CommaList.Parse(node);
            foreach (var item in items.Where(i => i != "*" && !IPNetwork.TryParse(i, out _) && !IPAddress.TryParse(i, out _)))
            {
                throw new SettingValueException(
                    $"\"{item}\" is not an IP address or network. Use addresses such as 127.0.0.1, 10.0.0.0/8, ::1 or \"*\" for any.");
            }
            return items;
        },
    };

    /// <summary>URL path prefixes such as <c>/events</c>: each starts with a slash.</summary>
    public static readonly ValueType<IReadOnlyList<string>> PathPrefixList = CommaList with
    {
        Name = "list of URL path prefixes",
        Parse = node =>
        {
            var items = CommaList.Parse(node);
            foreach (var item in items.Where(i => !i.StartsWith('/')))
            {
                throw new SettingValueException($"\"{item}\" is not a URL path prefix. Write it from the root, e.g. /{item.TrimStart('/')}.");
            }
            return items;
        },
    };

    /// <summary>A mapping from strings to strings (YAML mapping only).</summary>
    public static readonly ValueType<IReadOnlyDictionary<string, string>> TextMap = new(
        "mapping of strings",
        node => node switch
        {
            ScalarNode { IsNull: true } => new Dictionary<string, string>(),
            MappingNode mapping => mapping.Entries.ToDictionary(
                e => e.Key.Text,
                e => Expect.Scalar(e.Value, "a string").Text),
            _ => throw new SettingValueException($"expected a mapping such as {{HEADER: value}}, got {node.Describe()}."),
        },
        map => Yaml.Map(map.Select(e => KeyValuePair.Create(Yaml.Scalar(e.Key), Yaml.Scalar(e.Value)))),
        () => new JsonObject
        {
            ["type"] = "object",
            ["additionalProperties"] = new JsonObject { ["type"] = "string" },
        });

    private static string FormatList(IReadOnlyList<string> items) => Yaml.List(items.Select(Yaml.Scalar));
}
