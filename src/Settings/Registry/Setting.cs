using System.Text.Json.Nodes;

namespace Gunicorn.Settings.Registry;

/// <summary>A typed setting. <typeparamref name="T"/> is the value the runtime records receive.</summary>
public sealed class Setting<T> : SettingDefinition
{
    public required ValueType<T> Type { get; init; }

    public required T Default { get; init; }

    /// <summary>Computes the default from <see cref="SettingDefinition.EnvDefault"/>; returns null to keep <see cref="Default"/>.</summary>
    public Func<IReadOnlyDictionary<string, string>, object?>? DefaultFromEnvironment { get; init; }

    public IReadOnlyList<Rule<T>> Rules { get; init; } = [];

    public override object? Parse(ValueNode node)
    {
        var value = Type.Parse(node);
        var problems = CheckTyped(value).ToList();
        if (problems.Count > 0)
        {
            throw new SettingValueException(string.Join(" ", problems));
        }
        return value;
    }

    public override object? DefaultIn(IReadOnlyDictionary<string, string> environment)
    {
        if (DefaultFromEnvironment is not null && EnvDefault is not null && environment.ContainsKey(EnvDefault))
        {
            if (DefaultFromEnvironment(environment) is T fromEnvironment)
            {
                return fromEnvironment;
            }
        }
        return Default;
    }

    public override IEnumerable<string> Check(object? value) => CheckTyped((T)value!);

    private IEnumerable<string> CheckTyped(T value) =>
        Rules.Where(rule => !rule.Accepts(value)).Select(rule => rule.Describe(value));

    public override string Format(object? value) => Type.Format((T)value!);

    public override JsonObject Schema()
    {
        var schema = Type.Schema();
        foreach (var rule in Rules)
        {
            rule.AddToSchema?.Invoke(schema);
        }
        return schema;
    }

    public override string TypeName => Type.Name;
}
