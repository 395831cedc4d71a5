using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Types;

namespace Gunicorn.Settings.Sections;

public static class FrontStaticSettings
{
    public static readonly Setting<IReadOnlyList<StaticMapping>> Static = new()
    {
        Key = "static",
        Section = Section.FrontStatic,
        Cli = ["--static"],
        Meta = "PREFIX=DIR",
        Repeatable = true,
        Type = StaticMapping.ListType,
        Default = [],
        Doc = """
            URL prefixes served from directories by the front tier, before any request is forwarded. In YAML, a
            mapping from prefix to directory, or to `{root, index, cache_control}`; on the command line
            `--static /static=./public`, repeatable. Relative directories are relative to the config file. Files
            win over the app for their prefix; paths leaving the root (`..`, symlinks) are refused.
            """,
    };
}
