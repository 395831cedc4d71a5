using System.Text.Json.Nodes;
using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Sources;

namespace Gunicorn.Settings.Types;

public enum HookKind { Command, Python }

/// <summary>
/// A server hook. Written <c>python:module:function</c> it is a Python callable with gunicorn's signature, run inside
/// WSGI workers; any other string is a command line run without a shell, with the event described in
/// GUNICORN_* environment variables (docs/hooks.md).
/// </summary>
public sealed record HookSpec(HookKind Kind, string Text, IReadOnlyList<string> Argv)
{
    public const string PythonPrefix = "python:";

    public override string ToString() => Text;

    public static readonly ValueType<HookSpec?> Type = new(
        "hook",
        node => node is ScalarNode { IsNull: true } ? null : Parse(Expect.Scalar(node, "a command line or python:module:function")),
        hook => Yaml.Scalar(hook?.Text),
        () => new JsonObject { ["type"] = new JsonArray("string", "null") });

    private static HookSpec Parse(ScalarNode scalar)
    {
        var text = scalar.Text.Trim();
        if (text.StartsWith(PythonPrefix, StringComparison.Ordinal))
        {
            var target = text[PythonPrefix.Length..];
            var parts = target.Split(':');
            if (parts.Length != 2 || parts.Any(p => p.Length == 0 || p.Any(char.IsWhiteSpace)))
            {
                throw new SettingValueException($"expected python:module:function, got {scalar.Describe()}.");
            }
            return new HookSpec(HookKind.Python, text, parts);
        }
        IReadOnlyList<string> argv;
        try
        {
            argv = ShellWords.Split(text);
        }
        catch (FormatException e)
        {
            throw new SettingValueException($"cannot split {scalar.Describe()} into words: {e.Message}");
        }
        if (argv.Count == 0)
        {
            throw new SettingValueException("the hook command is empty. Remove the key or name a command.");
        }
        var program = ExecutableLookup.Find(argv[0], scalar.Origin.BaseDirectory)
            ?? throw new SettingValueException(
                $"hook command \"{argv[0]}\" was not found or is not executable. Use an absolute path, a path relative to the config file, or a program on PATH.");
        return new HookSpec(HookKind.Command, text, [program, .. argv.Skip(1)]);
    }
}
