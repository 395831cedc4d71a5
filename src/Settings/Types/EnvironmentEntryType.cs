using Gunicorn.Settings.Registry;

namespace Gunicorn.Settings.Types;

/// <summary>A list of <c>KEY=VALUE</c> environment entries (gunicorn's <c>raw_env</c>).</summary>
public static class EnvironmentEntryType
{
    public static readonly ValueType<IReadOnlyList<string>> Instance = Collections.TextList with
    {
        Name = "list of KEY=VALUE",
        Parse = node => Expect.ScalarList(node, "KEY=VALUE").Select(item =>
            item.Text.IndexOf('=') > 0
                ? item.Text
                : throw new SettingValueException($"expected KEY=VALUE, got {item.Describe()}.", item)).ToList(),
    };
}
