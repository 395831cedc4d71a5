using System.Text.Json.Nodes;
using Gunicorn.Settings.Registry;

namespace Gunicorn.Settings.Types;

/// <summary>A URL prefix served from a directory by the front tier (nginx's <c>location /static/ { root ...; }</c>).</summary>
/// <param name="UrlPrefix">The URL prefix, starting with '/'.</param>
/// <param name="Root">The absolute directory the prefix maps to.</param>
/// <param name="Index">The file served for a directory URL, or null for none.</param>
/// <param name="CacheControl">The Cache-Control header sent with files, or null for none.</param>
/// <param name="Internal">
/// nginx's <c>internal</c>: clients asking for the prefix get 404; only the app reaches its files, by answering with
/// <c>X-Accel-Redirect: /prefix/file</c> (or <c>X-Sendfile: /root/file</c>), which the front then serves itself.
/// </param>
public sealed record StaticMapping(string UrlPrefix, string Root, string? Index = StaticMapping.DefaultIndex, string? CacheControl = null,
    bool Internal = false)
{
    public const string DefaultIndex = "index.html";

    private static readonly string[] EntryKeys = ["root", "index", "cache_control", "internal"];

    public static readonly ValueType<IReadOnlyList<StaticMapping>> ListType = new(
        "mapping of URL prefixes to directories",
        Parse,
        Format,
        () => new JsonObject
        {
            ["type"] = "object",
            ["propertyNames"] = new JsonObject { ["pattern"] = "^/" },
            ["additionalProperties"] = new JsonObject
            {
                ["oneOf"] = new JsonArray(
                    new JsonObject { ["type"] = "string" },
                    new JsonObject
                    {
                        ["type"] = "object",
                        ["required"] = new JsonArray("root"),
                        ["additionalProperties"] = false,
                        ["properties"] = new JsonObject
                        {
                            ["root"] = new JsonObject { ["type"] = "string" },
                            ["index"] = new JsonObject { ["type"] = new JsonArray("string", "null") },
                            ["cache_control"] = new JsonObject { ["type"] = new JsonArray("string", "null") },
                            ["internal"] = new JsonObject { ["type"] = "boolean" },
                        },
                    }),
            },
        });

    private static IReadOnlyList<StaticMapping> Parse(ValueNode node) => node switch
    {
        ScalarNode { IsNull: true } => [],
        MappingNode mapping => mapping.Entries.Select(e => FromEntry(e.Key, e.Value)).ToList(),
        // The command line gives PREFIX=DIR items (--static /static=./public).
        _ when node.Origin.NamesSetting => Expect.ScalarList(node, "PREFIX=DIRECTORY").Select(FromFlag).ToList(),
        _ => throw new SettingValueException($"expected a mapping such as {{/static: ./public}}, got {node.Describe()}."),
    };

    private static StaticMapping FromFlag(ScalarNode item)
    {
        var equals = item.Text.IndexOf('=');
        if (equals <= 0)
        {
            throw new SettingValueException($"expected PREFIX=DIRECTORY such as /static=./public, got {item.Describe()}.", item);
        }
        return Create(item.Text[..equals], item.Text[(equals + 1)..], item, StaticMapping.DefaultIndex, null);
    }

    private static StaticMapping FromEntry(ScalarNode prefix, ValueNode value)
    {
        if (value is ScalarNode { IsNull: false } directory)
        {
            return Create(prefix.Text, directory.Text, directory, DefaultIndex, null);
        }
        if (value is not MappingNode options)
        {
            throw new SettingValueException(
                $"\"{prefix.Text}\": expected a directory or a mapping with root, index, cache_control and internal, got {value.Describe()}.", value);
        }
        var entries = options.Entries.ToDictionary(e => e.Key.Text, e => e.Value);
        foreach (var unknown in entries.Keys.Except(EntryKeys))
        {
            throw new SettingValueException(
                $"\"{prefix.Text}\": unknown key \"{unknown}\"; expected root, index, cache_control or internal.",
                options.Entries.First(e => e.Key.Text == unknown).Key);
        }
        if (!entries.TryGetValue("root", out var root) || root is not ScalarNode { IsNull: false } rootScalar)
        {
            throw new SettingValueException($"\"{prefix.Text}\": needs root: DIRECTORY.", value);
        }
        return Create(prefix.Text, rootScalar.Text, rootScalar,
            entries.TryGetValue("index", out var index) ? OptionalText(index) : DefaultIndex,
            entries.TryGetValue("cache_control", out var cache) ? OptionalText(cache) : null)
            with { Internal = entries.TryGetValue("internal", out var isInternal) && Flag(prefix, isInternal) };
    }

    private static bool Flag(ScalarNode prefix, ValueNode node)
    {
        try
        {
            return Scalars.Bool.Parse(node);
        }
        catch (SettingValueException e)
        {
            throw new SettingValueException($"\"{prefix.Text}\": internal: {e.Message}", node);
        }
    }

    private static string? OptionalText(ValueNode node) => node is ScalarNode { IsNull: true } ? null : Expect.Scalar(node, "a string").Text;

    private static StaticMapping Create(string prefix, string directory, ScalarNode at, string? index, string? cacheControl)
    {
        if (!prefix.StartsWith('/'))
        {
            throw new SettingValueException($"URL prefix \"{prefix}\" must start with '/'.", at);
        }
        var root = at.Origin.ResolvePath(directory);
        if (!Directory.Exists(root))
        {
            throw new SettingValueException(
                $"directory \"{root}\" for \"{prefix}\" does not exist. Create it or fix the path (relative paths are relative to the config file).", at);
        }
        return new StaticMapping(prefix.TrimEnd('/') + "/", root, index, cacheControl);
    }

    private static string Format(IReadOnlyList<StaticMapping> mappings) => Yaml.Map(mappings.Select(m =>
        KeyValuePair.Create(Yaml.Scalar(m.UrlPrefix), Yaml.Map(
        [
            KeyValuePair.Create("root", Yaml.Scalar(m.Root)),
            KeyValuePair.Create("index", Yaml.Scalar(m.Index)),
            KeyValuePair.Create("cache_control", Yaml.Scalar(m.CacheControl)),
            KeyValuePair.Create("internal", Yaml.Bool(m.Internal)),
        ]))));
}
