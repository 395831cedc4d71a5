using System.Text.Json.Nodes;
using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Sources;
using Gunicorn.Shared.Contract;

namespace Gunicorn.Settings.Types;

/// <summary>
/// A server hook's value type. Written <c>python:module:function</c> it is a Python callable with gunicorn's signature,
/// run inside WSGI workers; any other string is a command line run without a shell, with the event described in
/// GUNICORN_* environment variables (docs/hooks.md). The value is the contract's <see cref="HookCommand"/>.
/// </summary>
public static class HookSpec
{
    public static readonly ValueType<HookCommand?> Type = new(
        "hook",
        node => node is ScalarNode { IsNull: true } ? null : Parse(Expect.Scalar(node, "a command line or python:module:function")),
        hook => Yaml.Scalar(hook?.Text),
        () => new JsonObject { ["type"] = new JsonArray("string", "null") });

    private static HookCommand Parse(ScalarNode scalar)
    {
        var text = scalar.Text.Trim();
        if (text.StartsWith(HookCommand.PythonPrefix, StringComparison.Ordinal))
        {
            var target = text[HookCommand.PythonPrefix.Length..];
            var parts = target.Split(':');
            if (parts.Length != 2 || parts.Any(p => p.Length == 0 || p.Any(char.IsWhiteSpace)))
            {
                throw new SettingValueException($"expected python:module:function, got {scalar.Describe()}.");
            }
            return new HookCommand(HookKind.Python, text, parts);
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
        return new HookCommand(HookKind.Command, text, [program, .. argv.Skip(1)]);
    }
}
