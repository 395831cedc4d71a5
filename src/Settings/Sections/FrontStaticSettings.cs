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
            mapping from prefix to directory, or to `{root, index, cache_control, internal}`; on the command line
            `--static /static=./public`, repeatable. Relative directories are relative to the config file. Files
            win over the app for their prefix; paths leaving the root (`..`, symlinks) are refused, and so are
            dot-named files and directories (`.env`, `.git/`) except `.well-known` (nginx serves them unless denied).

            A worker answer with `X-Accel-Redirect: /prefix/file` (a URI under a mapped prefix) or `X-Sendfile:
            /absolute/path` (a file under a mapped root) is served from these mappings, as nginx does: the front
            discards the app's body, frees the worker at once and serves the file itself (ranges, conditional
            requests), keeping the app's Content-Type, Content-Disposition, Cache-Control, Expires and Set-Cookie
            headers. A target
            outside every mapping, or a missing file, is 404 and the error log says why. `internal: true` is nginx's
            `internal` location: clients asking for the prefix get 404, so its files are reachable only through an
            answer of the app (a download the app authorises).
            """,
    };
}
