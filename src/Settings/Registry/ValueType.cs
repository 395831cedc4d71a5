using System.Text.Json.Nodes;

namespace Gunicorn.Settings.Registry;

/// <summary>How raw values of one kind are parsed, rendered back as YAML and described in the JSON schema.</summary>
public sealed record ValueType<T>(
    string Name,
    Func<ValueNode, T> Parse,
    Func<T, string> Format,
    Func<JsonObject> Schema);
