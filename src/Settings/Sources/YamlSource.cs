using Gunicorn.Settings.Registry;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Gunicorn.Settings.Sources;

/// <summary>
/// Reads a YAML config file into raw settings with file:line:column origins. Built on YamlDotNet's event parser so that
/// duplicate keys, aliases and unknown keys are reported with their positions instead of being merged silently.
/// </summary>
public static class YamlSource
{
    public static SourceResult Read(string text, string displayName, string baseDirectory)
    {
        var errors = new List<SettingsError>();
        var settings = new List<RawSetting>();
        ValueNode? root;
        try
        {
            root = new NodeReader(displayName, baseDirectory, errors).ReadDocument(text);
        }
        catch (YamlException e)
        {
            errors.Add(new SettingsError(At(displayName, baseDirectory, e.Start), null, SyntaxMessage(e)));
            return new SourceResult(settings, errors);
        }
        switch (root)
        {
            case null or ScalarNode { IsNull: true }:
                break;
            case MappingNode mapping:
                foreach (var (key, value) in mapping.Entries)
                {
                    Bind(key, value, settings, errors);
                }
                break;
            default:
                errors.Add(new SettingsError(root.Origin, null,
                    $"the file must be a mapping of settings (key: value), got {root.Describe()}."));
                break;
        }
        return new SourceResult(settings, errors);
    }

    private static void Bind(ScalarNode key, ValueNode value, List<RawSetting> settings, List<SettingsError> errors)
    {
        if (!SettingsRegistry.ByKey.TryGetValue(key.Text, out var setting))
        {
            errors.Add(new SettingsError(key.Origin, null,
                $"unknown setting \"{key.Text}\".{Suggestions.DidYouMean(key.Text, SettingsRegistry.ByKey.Keys, orElse: " docs/settings.md lists every setting.")}"));
            return;
        }
        if (setting == Sections.ConfigFileSettings.Config)
        {
            errors.Add(new SettingsError(key.Origin, setting.Key,
                "only valid on the command line or in GUNICORN_CMD_ARGS; a config file cannot name another. Remove the key."));
            return;
        }
        settings.Add(new RawSetting(setting, value, key.Origin));
    }

    internal static Origin At(string displayName, string baseDirectory, Mark mark) =>
        new(displayName, (int)mark.Line, (int)mark.Column) { BaseDirectory = baseDirectory };

    private static string SyntaxMessage(YamlException e)
    {
        var message = e.InnerException?.Message ?? e.Message;
        if (message.Contains("tab", StringComparison.OrdinalIgnoreCase))
        {
            return $"invalid YAML: {message} Indent with spaces; YAML does not allow tabs.";
        }
        return $"invalid YAML: {message} Check the indentation and quoting on this line and the one before.";
    }

    /// <summary>Turns the event stream of one document into value nodes.</summary>
    private sealed class NodeReader(string displayName, string baseDirectory, List<SettingsError> errors)
    {
        private static readonly string[] NullWords = ["", "~", "null", "Null", "NULL"];

        public ValueNode? ReadDocument(string text)
        {
            var parser = new Parser(new StringReader(text));
            parser.Consume<StreamStart>();
            if (parser.TryConsume<StreamEnd>(out _))
            {
                return null;
            }
            parser.Consume<DocumentStart>();
            var root = ReadNode(parser);
            parser.Consume<DocumentEnd>();
            if (parser.Accept<DocumentStart>(out var second))
            {
                errors.Add(new SettingsError(Origin(second.Start), null,
                    "a second YAML document (---) is not allowed; put all settings in one document."));
            }
            return root;
        }

        private Origin Origin(Mark mark) => At(displayName, baseDirectory, mark);

        private ValueNode ReadNode(IParser parser)
        {
            if (parser.TryConsume<Scalar>(out var scalar))
            {
                var plain = scalar.Style == ScalarStyle.Plain;
                return new ScalarNode(scalar.Value, Origin(scalar.Start),
                    IsNull: plain && NullWords.Contains(scalar.Value), IsQuoted: !plain);
            }
            if (parser.TryConsume<SequenceStart>(out var sequenceStart))
            {
                var items = new List<ValueNode>();
                while (!parser.TryConsume<SequenceEnd>(out _))
                {
                    items.Add(ReadNode(parser));
                }
                return new SequenceNode(items, Origin(sequenceStart.Start));
            }
            if (parser.TryConsume<MappingStart>(out var mappingStart))
            {
                var entries = new List<KeyValuePair<ScalarNode, ValueNode>>();
                var seen = new Dictionary<string, ScalarNode>();
                while (!parser.TryConsume<MappingEnd>(out _))
                {
                    var keyNode = ReadNode(parser);
                    var value = ReadNode(parser);
                    if (keyNode is not ScalarNode key)
                    {
                        errors.Add(new SettingsError(keyNode.Origin, null, "a key must be a plain string, not a list or mapping."));
                        continue;
                    }
                    if (seen.TryGetValue(key.Text, out var first))
                    {
                        errors.Add(new SettingsError(key.Origin, null,
                            $"duplicate key \"{key.Text}\" (first at line {first.Origin.Line}). Keep one of them."));
                        continue;
                    }
                    seen[key.Text] = key;
                    entries.Add(KeyValuePair.Create(key, value));
                }
                return new MappingNode(entries, Origin(mappingStart.Start));
            }
            var unexpected = parser.Current!;
            parser.MoveNext();
            throw new YamlException(unexpected.Start, unexpected.End,
                unexpected is AnchorAlias ? "aliases (*name) are not supported in gunicorn-net configs." : $"unexpected {unexpected.GetType().Name}.");
        }
    }
}
