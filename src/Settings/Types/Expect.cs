using Gunicorn.Settings.Registry;

namespace Gunicorn.Settings.Types;

/// <summary>Shape checks shared by the value types, with messages that say what was expected.</summary>
internal static class Expect
{
    public static ScalarNode Scalar(ValueNode node, string what) => node switch
    {
        ScalarNode { IsNull: false } scalar => scalar,
        _ => throw new SettingValueException($"expected {what}, got {node.Describe()}."),
    };

    /// <summary>A scalar is a one-item list; a sequence's items must be scalars.</summary>
    public static IReadOnlyList<ScalarNode> ScalarList(ValueNode node, string itemWhat) => node switch
    {
        ScalarNode { IsNull: true } => [],
        ScalarNode scalar => [scalar],
        SequenceNode sequence => sequence.Items.Select(item => item is ScalarNode { IsNull: false } s
            ? s
            : throw new SettingValueException($"expected each item to be {itemWhat}, got {item.Describe()}.", item)).ToList(),
        _ => throw new SettingValueException($"expected {itemWhat} or a list of them, got {node.Describe()}."),
    };
}
