using Gunicorn.Settings.Registry;

namespace Gunicorn.Settings.Types;

/// <summary>A comma list of <c>h1</c> and <c>h2</c>.</summary>
public static class HttpProtocolListType
{
    private static readonly string[] Known = ["h1", "h2"];

    public static readonly ValueType<IReadOnlyList<string>> Instance = Collections.CommaList with
    {
        Name = "list of h1, h2",
        Parse = node =>
        {
            var items = Collections.CommaList.Parse(node);
            foreach (var unknown in items.Where(i => !Known.Contains(i)))
            {
                throw new SettingValueException($"unknown protocol \"{unknown}\". Use h1, h2 or h1,h2.");
            }
            return items.Count > 0 ? items : throw new SettingValueException("name at least one protocol: h1, h2 or h1,h2.");
        },
    };
}
