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
        Rules = [Rules.AtLeast(0), Rules.AtMost(8190, "gunicorn's maximum; 0 also means 8190.")],
        Doc = """
            The maximum size of the HTTP request line in bytes (method, target and version). A longer line is
            answered 414 by the front tier and never reaches a worker. 0 means the maximum, 8190.
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
        Rules = [Rules.AtLeast(0), Rules.AtMost(32768, "gunicorn's maximum; 0 also means 32768.")],
        Doc = "The maximum number of header fields in a request; more are answered 431. 0 means the maximum, 32768.",
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
        Doc = "The maximum size of one header line (name, colon and value) in bytes; a larger one is answered 431. 0 means unlimited.",
    };
}
