namespace Gunicorn.Settings.Registry;

/// <summary>Raised by a value type or rule when a raw value cannot become a setting value.</summary>
/// <param name="problem">What is wrong, e.g. <c>expected an integer, got "abc".</c></param>
/// <param name="at">The node at fault, when it is a part of the setting's value (a list item, a mapping entry).</param>
public sealed class SettingValueException(string problem, ValueNode? at = null) : Exception(problem)
{
    public ValueNode? At { get; } = at;
}
