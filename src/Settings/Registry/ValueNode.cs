namespace Gunicorn.Settings.Registry;

/// <summary>A raw value as written by the operator, before parsing: YAML and the command line both produce these.</summary>
public abstract record ValueNode(Origin Origin)
{
    /// <summary>A short rendering of the raw text for error messages.</summary>
    public abstract string Describe();
}

/// <summary>A scalar. <see cref="IsNull"/> is true for YAML <c>~</c>, <c>null</c> or an empty value.</summary>
public sealed record ScalarNode(string Text, Origin Origin, bool IsNull = false, bool IsQuoted = false) : ValueNode(Origin)
{
    public override string Describe() => IsNull ? "null" : $"\"{Text}\"";
}

public sealed record SequenceNode(IReadOnlyList<ValueNode> Items, Origin Origin) : ValueNode(Origin)
{
    public override string Describe() => "a list";
}

public sealed record MappingNode(IReadOnlyList<KeyValuePair<ScalarNode, ValueNode>> Entries, Origin Origin) : ValueNode(Origin)
{
    public override string Describe() => "a mapping";
}
