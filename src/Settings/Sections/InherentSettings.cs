using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Types;

namespace Gunicorn.Settings.Sections;

/// <summary>
/// gunicorn settings whose accepted values describe what gunicorn-net always does: the value gunicorn configs set in
/// practice is accepted, any other is refused at config time with the reason.
/// </summary>
public static class InherentSettings
{
    private static Rule<bool> Only(bool accepted, string problem, string fix) => new(v => v == accepted, _ => problem, fix);

    public static readonly Setting<bool> StripHeaderSpaces = new()
    {
        Key = "strip_header_spaces",
        Section = Section.Security,
        Cli = ["--strip-header-spaces"],
        Type = Scalars.Bool,
        Default = false,
        Status = SettingStatus.Inherent("the front tier answers whitespace before a header's colon with 400."),
        Rules = [Only(false, "the front tier refuses whitespace between a header name and its colon (RFC 9112 5.1: a request-smuggling vector).",
            "Remove the setting and fix the client that sends such headers.")],
        Doc = "Whitespace between a header name and its colon: always refused with 400 (RFC 9112 5.1), as gunicorn's default; `true` is refused.",
    };

    public static readonly Setting<bool> PermitUnconventionalHttpVersion = new()
    {
        Key = "permit_unconventional_http_version",
        Section = Section.Security,
        Cli = ["--permit-unconventional-http-version"],
        Type = Scalars.Bool,
        Default = false,
        Status = SettingStatus.Inherent("the front tier speaks HTTP/1.0, HTTP/1.1 and HTTP/2 only."),
        Rules = [Only(false, "the front tier speaks HTTP/1.0, HTTP/1.1 and HTTP/2 and answers other versions 505.", "Remove the setting.")],
        Doc = "HTTP versions other than 1.0 and 1.1 (and 2 over `http_protocols`): always refused, as gunicorn's default; `true` is refused.",
    };

    public static readonly Setting<bool> SuppressRaggedEofs = new()
    {
        Key = "suppress_ragged_eofs",
        Section = Section.Ssl,
        Cli = ["--suppress-ragged-eofs"],
        Type = Scalars.Bool,
        Default = true,
        Status = SettingStatus.Inherent("a TLS client that closes without close_notify ends its connection like any other close."),
        Rules = [Only(true, "the front never reports a TLS peer's missing close_notify as an error: HTTP frames every request itself.", "Remove the setting.")],
        Doc = "A TLS client closing without `close_notify` is a normal close (gunicorn's default); `false` is refused.",
    };

    public static readonly Setting<bool> DoHandshakeOnConnect = new()
    {
        Key = "do_handshake_on_connect",
        Section = Section.Ssl,
        Cli = ["--do-handshake-on-connect"],
        Type = Scalars.Bool,
        Default = false,
        Status = SettingStatus.Inherent("the front reads the request right after accepting, so the handshake runs then either way."),
        Doc = """
            Accepted with either value: the front tier starts the TLS handshake as soon as it accepts a connection and
            reads the request right after it, which is what both of Python's modes amount to for a server.
            """,
    };

    public static readonly Setting<string> Protocol = new()
    {
        Key = "protocol",
        Section = Section.ServerMechanics,
        Cli = ["--protocol"],
        Meta = "STRING",
        Type = Scalars.Choice("http", "uwsgi"),
        Default = "http",
        Status = SettingStatus.Inherent("the front tier speaks HTTP."),
        Rules = [new Rule<string>(v => v == "http", _ => "the uwsgi binary protocol is not served.",
            "Use protocol: http and point nginx's proxy_pass (not uwsgi_pass) at gunicorn-net, or drop nginx.")],
        Doc = "The protocol clients speak: `http` (HTTP/1.x, and HTTP/2 by `http_protocols`). gunicorn's `uwsgi` is refused.",
    };
}
