using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Types;

namespace Gunicorn.Settings.Sections;

public static class SecuritySettings
{
    public static readonly Setting<int> LimitRequestLine = new()
    {
        Key = "limit_request_line",
        Section = Section.Security,
        Cli = ["--limit-request-line"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 4094,
        Rules = [Rules.AtLeast(0)],
        Doc = """
            The maximum size of the HTTP request line in bytes (method, target and version). A longer line is
            answered 414 by the front tier and never reaches a worker. As in gunicorn, anything above 8190 means
            8190 and 0 means unlimited (bounded only by the front's 1 MiB request buffer).
            """,
    };

    public static readonly Setting<int> LimitRequestFields = new()
    {
        Key = "limit_request_fields",
        Section = Section.Security,
        Cli = ["--limit-request-fields"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 100,
        Rules = [Rules.AtLeast(0)],
        Doc = "The maximum number of header fields in a request; more are answered 431. As in gunicorn, 0 or anything above 32768 means 32768.",
    };

    public static readonly Setting<int> LimitRequestFieldSize = new()
    {
        Key = "limit_request_field_size",
        Section = Section.Security,
        Cli = ["--limit-request-field_size"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 8190,
        Rules = [Rules.AtLeast(0)],
        Doc = "The maximum size of one header line (name, colon, space and value) in bytes; a larger one is answered 431. As in gunicorn, 0 means 8190.",
    };

    public static readonly Setting<bool> PermitUnconventionalHttpMethod = new()
    {
        Key = "permit_unconventional_http_method",
        Section = Section.Security,
        Cli = ["--permit-unconventional-http-method"],
        Type = Scalars.Bool,
        Default = false,
        Doc = """
            Accept request methods gunicorn calls unconventional: lowercase letters, `#`, or shorter than 3 or longer
            than 20 characters. Off: such requests are answered 400 and never reach a worker.
            """,
    };

    public static readonly Setting<bool> PermitObsoleteFolding = new()
    {
        Key = "permit_obsolete_folding",
        Section = Section.Security,
        Cli = ["--permit-obsolete-folding"],
        Type = Scalars.Bool,
        Default = false,
        Status = SettingStatus.Unsupported(
            "the front tier's HTTP parser refuses obsolete line folding (RFC 9112 5.2) with 400; ask clients to send one header line."),
        Doc = "Accept header values continued on the next line (obsolete line folding).",
    };
}
