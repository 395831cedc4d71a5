using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Types;

namespace Gunicorn.Settings.Sections;

/// <summary>Settings about what the front tier trusts from peers and passes to the app (part of gunicorn's Server Mechanics).</summary>
public static class ProxySettings
{
    public static readonly Setting<IReadOnlyDictionary<string, string>> SecureSchemeHeaders = new()
    {
        Key = "secure_scheme_headers",
        Section = Section.ServerMechanics,
        Type = Collections.TextMap,
        Default = new Dictionary<string, string>
        {
            ["X-FORWARDED-PROTOCOL"] = "ssl",
            ["X-FORWARDED-PROTO"] = "https",
            ["X-FORWARDED-SSL"] = "on",
        },
        Doc = """
            Headers, and their values, that tell a request came over HTTPS when sent by a peer in
            `forwarded_allow_ips` (the app then sees `wsgi.url_scheme` https).
            """,
    };

    public static readonly Setting<IReadOnlyList<string>> ForwardedAllowIps = new()
    {
        Key = "forwarded_allow_ips",
        Section = Section.ServerMechanics,
        Cli = ["--forwarded-allow-ips"],
        Meta = "STRING",
        Type = Collections.AddressList,
        Default = ["127.0.0.1", "::1"],
        EnvDefault = "FORWARDED_ALLOW_IPS",
        DefaultFromEnvironment = env => Collections.AddressList.Parse(new ScalarNode(env["FORWARDED_ALLOW_IPS"], Origin.Default)),
        Doc = """
            Peers (addresses or networks, `*` for any) whose X-Forwarded-*, Forwarded and X-Real-IP headers are
            trusted. From other peers those headers are removed and replaced by the front tier's own. Default
            `127.0.0.1,::1`, or the FORWARDED_ALLOW_IPS environment variable.
            """,
    };

    public static readonly Setting<bool> ProxyProtocol = new()
    {
        Key = "proxy_protocol",
        Section = Section.ServerMechanics,
        Cli = ["--proxy-protocol"],
        Type = Scalars.Bool,
        Default = false,
        Doc = "Accept the PROXY protocol (v1 and v2) from peers in `proxy_allow_ips`, taking the client address from it.",
    };

    public static readonly Setting<IReadOnlyList<string>> ProxyAllowIps = new()
    {
        Key = "proxy_allow_ips",
        Section = Section.ServerMechanics,
        Cli = ["--proxy-allow-from"],
        Meta = "STRING",
        Type = Collections.AddressList,
        Default = ["127.0.0.1", "::1"],
        Doc = "Peers allowed to send a PROXY protocol header.",
    };

    public static readonly Setting<IReadOnlyList<string>> ForwarderHeaders = new()
    {
        Key = "forwarder_headers",
        Section = Section.ServerMechanics,
        Cli = ["--forwarder-headers"],
        Meta = "STRING",
        Type = Collections.CommaList,
        Default = ["SCRIPT_NAME", "PATH_INFO"],
        Doc = "WSGI environ variables that trusted peers may set through headers of the same name (e.g. SCRIPT_NAME).",
    };

    public static readonly Setting<string> HeaderMap = new()
    {
        Key = "header_map",
        Section = Section.ServerMechanics,
        Cli = ["--header-map"],
        Meta = "STRING",
        Type = Scalars.Choice("drop", "refuse", "dangerous"),
        Default = "drop",
        Doc = """
            What to do with header names containing `_`, which would be confused with `-` in the WSGI environ:
            `drop` removes them, `refuse` answers 400, `dangerous` passes them (not recommended).
            """,
    };

    public static readonly Setting<IReadOnlyList<string>> HttpProtocols = new()
    {
        Key = "http_protocols",
        Section = Section.ServerMechanics,
        Cli = ["--http-protocols"],
        Meta = "STRING",
        Type = HttpProtocolListType.Instance,
        Default = ["h1"],
        Doc = "HTTP versions offered to clients: `h1`, `h2` or both (`h1,h2`); with TLS they are negotiated by ALPN.",
    };
}
