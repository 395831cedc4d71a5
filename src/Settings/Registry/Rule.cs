using System.Text.Json.Nodes;

namespace Gunicorn.Settings.Registry;

/// <summary>A validation rule: a predicate, the problem it describes and the fix to suggest.</summary>
public sealed record Rule<T>(Func<T, bool> Accepts, Func<T, string> Problem, string? Fix = null)
{
    /// <summary>Narrows the JSON schema, e.g. adds <c>minimum</c>.</summary>
    public Action<JsonObject>? AddToSchema { get; init; }

    public string Describe(T value) => Fix is null ? Problem(value) : $"{Problem(value)} {Fix}";
}

/// <summary>Common rules.</summary>
public static class Rules
{
    public static Rule<int> AtLeast(int minimum, string? fix = null) =>
        new(v => v >= minimum, v => $"must be at least {minimum}, got {v}.", fix)
        {
            AddToSchema = s => s["minimum"] = minimum,
        };

    public static Rule<int> AtMost(int maximum, string? fix = null) =>
        new(v => v <= maximum, v => $"must be at most {maximum}, got {v}.", fix)
        {
            AddToSchema = s => s["maximum"] = maximum,
        };

    public static Rule<double> AtLeast(double minimum, string? fix = null) =>
        new(v => v >= minimum, v => $"must be at least {minimum}, got {v}.", fix)
        {
            AddToSchema = s => s["minimum"] = minimum,
        };
}
