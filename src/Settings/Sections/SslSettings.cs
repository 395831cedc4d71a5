using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Types;

namespace Gunicorn.Settings.Sections;

public static class SslSettings
{
    public static readonly Setting<string?> KeyFile = new()
    {
        Key = "keyfile",
        Section = Section.Ssl,
        Cli = ["--keyfile"],
        Meta = "FILE",
        Type = Scalars.OptionalText,
        Default = null,
        Doc = "The TLS private key file (PEM). Requires `certfile`.",
    };

    public static readonly Setting<string?> CertFile = new()
    {
        Key = "certfile",
        Section = Section.Ssl,
        Cli = ["--certfile"],
        Meta = "FILE",
        Type = Scalars.OptionalText,
        Default = null,
        Doc = "The TLS certificate file (PEM). When set, every `bind` listener speaks TLS, Unix sockets included (as in gunicorn); the `https_redirect_bind` listeners stay plaintext.",
    };

    public static readonly Setting<string?> CaCerts = new()
    {
        Key = "ca_certs",
        Section = Section.Ssl,
        Cli = ["--ca-certs"],
        Meta = "FILE",
        Type = Scalars.OptionalText,
        Default = null,
        Doc = "CA certificates (PEM) used to verify client certificates when `cert_reqs` asks for them.",
    };

    public static readonly Setting<int> CertReqs = new()
    {
        Key = "cert_reqs",
        Section = Section.Ssl,
        Cli = ["--cert-reqs"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 0,
        Rules = [Rules.AtLeast(0), Rules.AtMost(2, "Use 0 (no client certificate), 1 (optional) or 2 (required).")],
        Doc = "Whether a client certificate is required, as Python's ssl module: 0 none, 1 optional, 2 required.",
    };

    public static readonly Setting<string?> Ciphers = new()
    {
        Key = "ciphers",
        Section = Section.Ssl,
        Cli = ["--ciphers"],
        Meta = "CIPHERS",
        Type = Scalars.OptionalText,
        Default = null,
        Rules = [new Rule<string?>(
            v => v is null || v.Split(':', StringSplitOptions.RemoveEmptyEntries).All(n => Enum.TryParse<System.Net.Security.TlsCipherSuite>(n.Trim(), out _)),
            v => $"contains a cipher suite that is not an IANA name: \"{v}\".",
            "Write IANA names separated by ':', e.g. TLS_AES_128_GCM_SHA256:TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256.")],
        Doc = """
            The TLS cipher suites, as IANA names separated by ':' (e.g. `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`).
            Unset: TLS 1.3 suites and the TLS 1.2 ECDHE suites with AES-GCM or ChaCha20 only (no CBC).
            """,
    };

    public static readonly Setting<string> SslVersion = new()
    {
        Key = "ssl_version",
        Section = Section.Ssl,
        Cli = ["--ssl-version"],
        Meta = "STRING",
        Type = Scalars.Choice("TLS", "TLS_SERVER", "SSLv23", "TLSv1_2", "TLSv1_3", "SSLv3", "TLSv1", "TLSv1_1"),
        Default = "TLS",
        Rules = [new Rule<string>(v => v is not ("SSLv3" or "TLSv1" or "TLSv1_1"), v => $"{v} is insecure and not offered.",
            "Use TLS (TLS 1.2 and 1.3), or TLSv1_2 / TLSv1_3 for one version only.")],
        Doc = """
            TLS versions the front accepts: `TLS` (also `TLS_SERVER` and `SSLv23`, Python's aliases) negotiates TLS 1.2
            or 1.3; `TLSv1_2` or `TLSv1_3` allows that version only. SSLv3, TLS 1.0 and 1.1 are refused. (gunicorn
            ignores this setting since 21.0; here it is honoured.)
            """,
    };
}
