using System.Globalization;
using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Types;

namespace Gunicorn.Settings.Sections;

/// <summary>What nginx's common directives did in front of gunicorn: compression, HTTPS redirects and HSTS, error
/// pages and per-client limits. Names follow nginx's directives.</summary>
public static class FrontHttpSettings
{
    public static readonly Setting<bool> Gzip = new()
    {
        Key = "gzip",
        Section = Section.FrontHttp,
        Cli = ["--gzip"],
        Meta = "BOOL",
        Type = Scalars.Bool,
        Default = false,
        Doc = """
            Compress responses (from the app and static files) with gzip for clients that accept it, as nginx's
            `gzip on`. Never compressed: ranges, `Cache-Control: no-transform`, bodies that already have a
            `Content-Encoding`, bodies shorter than `gzip_min_length`, types outside `gzip_types`, HEAD and 1xx/204/304
            answers. Compressed responses say `Vary: Accept-Encoding`, and their ETag is made weak (`W/"..."`), as
            nginx does: If-None-Match still revalidates them, If-Range never mixes them with the identity body. A
            static file is compressed once per version (its ETag) and then served from memory.
            """,
    };

    public static readonly Setting<IReadOnlyList<string>> GzipTypes = new()
    {
        Key = "gzip_types",
        Section = Section.FrontHttp,
        Cli = ["--gzip-types"],
        Meta = "TYPES",
        Type = Collections.CommaList,
        Default = ["text/html", "text/plain", "text/css", "text/javascript", "text/xml", "application/javascript",
            "application/json", "application/xml", "image/svg+xml"],
        Rules = [new Rule<IReadOnlyList<string>>(types => types.All(t => t == "*" || t.Contains('/')),
            types => $"expects media types such as text/css or *, got \"{string.Join(", ", types.Where(t => t != "*" && !t.Contains('/')))}\".")],
        Doc = """
            The media types compressed by `gzip` and `brotli` (parameters such as `charset` are ignored); `*` means
            every type. nginx's default is `text/html` alone; this default adds the text types every site sends.
            """,
    };

    public static readonly Setting<long> GzipMinLength = new()
    {
        Key = "gzip_min_length",
        Section = Section.FrontHttp,
        Cli = ["--gzip-min-length"],
        Meta = "SIZE",
        Type = Quantities.Bytes,
        Default = 256,
        Doc = """
            Responses whose Content-Length is below this are sent as they are (a compressed tiny body is larger than
            the original). Responses without a Content-Length are compressed. nginx's default is 20.
            """,
    };

    public static readonly Setting<int> GzipCompLevel = new()
    {
        Key = "gzip_comp_level",
        Section = Section.FrontHttp,
        Cli = ["--gzip-comp-level"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 1,
        Rules = [Rules.AtLeast(1), Rules.AtMost(9)],
        Doc = "gzip's level, 1 (fastest) to 9 (smallest), as nginx's `gzip_comp_level` (default 1).",
    };

    public static readonly Setting<long> CompressionCacheSize = new()
    {
        Key = "compression_cache_size",
        Section = Section.FrontHttp,
        Cli = ["--compression-cache-size"],
        Meta = "SIZE",
        Type = Quantities.Bytes,
        Default = 64 * 1024 * 1024,
        Doc = """
            Memory for compressed static files: a file is compressed once per version (size and mtime) and coding,
            then served from here; least recently used entries leave first, and files over an eighth of this size
            are compressed on every request. 0: no cache (every request compresses, as nginx without `gzip_static`).
            """,
    };

    public static readonly Setting<bool> Brotli = new()
    {
        Key = "brotli",
        Section = Section.FrontHttp,
        Cli = ["--brotli"],
        Meta = "BOOL",
        Type = Scalars.Bool,
        Default = false,
        Doc = """
            Compress with Brotli (`br`) for clients that prefer it, as the ngx_brotli module's `brotli on`; same
            exclusions and types as `gzip`. With both on, the client's q-values choose, Brotli winning ties.
            """,
    };

    public static readonly Setting<int> BrotliCompLevel = new()
    {
        Key = "brotli_comp_level",
        Section = Section.FrontHttp,
        Cli = ["--brotli-comp-level"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 4,
        Rules = [Rules.AtLeast(0), Rules.AtMost(11)],
        Doc = "Brotli's quality, 0 to 11. ngx_brotli's default is 6; 4 costs about half its CPU for slightly larger output.",
    };

    public static readonly Setting<IReadOnlyList<BindAddress>> HttpsRedirectBind = new()
    {
        Key = "https_redirect_bind",
        Section = Section.FrontHttp,
        Cli = ["--https-redirect-bind"],
        Meta = "ADDRESS",
        Repeatable = true,
        Type = BindAddress.ListType,
        Default = [],
        Doc = """
            Plaintext listeners, such as `0.0.0.0:80`, that answer every request with a redirect to the same host
            and path over HTTPS, as nginx's `server { listen 80; return 301 https://$host$request_uri; }`. Needs
            `certfile` (the HTTPS side is `bind`). `health_path` is still answered there, and static files under
            `/.well-known/acme-challenge/` are served (certificate renewal).
            """,
    };

    public static readonly Setting<int> HttpsRedirectStatus = new()
    {
        Key = "https_redirect_status",
        Section = Section.FrontHttp,
        Cli = ["--https-redirect-status"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 301,
        Rules = [new Rule<int>(v => v is 301 or 302 or 307 or 308, v => $"must be 301, 302, 307 or 308, got {v}.",
            "308 keeps the method and body of a POST; 301 is what browsers cache.")],
        Doc = "The status of `https_redirect_bind`'s redirects.",
    };

    public static readonly Setting<int> HttpsPort = new()
    {
        Key = "https_port",
        Section = Section.FrontHttp,
        Cli = ["--https-port"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 0,
        Rules = [Rules.AtLeast(0), Rules.AtMost(65535)],
        Doc = """
            The port redirects point to. 0: the port of the first TCP `bind` (left out of the URL when it is 443). Set
            it when a load balancer or container maps the port.
            """,
    };

    public static readonly Setting<double> HstsMaxAge = new()
    {
        Key = "hsts_max_age",
        Section = Section.FrontHttp,
        Cli = ["--hsts-max-age"],
        Meta = "DURATION",
        Type = Quantities.Seconds,
        Default = 0,
        Rules = [Rules.AtLeast(0.0)],
        Doc = """
            Adds `Strict-Transport-Security: max-age=N` to every response sent over HTTPS (TLS here, or a trusted
            `secure_scheme_headers` proxy), never over plain HTTP (RFC 6797). 0: no header. A year is `8760h`.
            """,
    };

    public static readonly Setting<bool> HstsIncludeSubdomains = new()
    {
        Key = "hsts_include_subdomains",
        Section = Section.FrontHttp,
        Cli = ["--hsts-include-subdomains"],
        Meta = "BOOL",
        Type = Scalars.Bool,
        Default = false,
        Doc = "Adds `includeSubDomains` to the HSTS header.",
    };

    public static readonly Setting<bool> HstsPreload = new()
    {
        Key = "hsts_preload",
        Section = Section.FrontHttp,
        Cli = ["--hsts-preload"],
        Meta = "BOOL",
        Type = Scalars.Bool,
        Default = false,
        Doc = "Adds `preload` to the HSTS header (browsers' preload lists require a max-age of a year and includeSubDomains).",
    };

    /// <summary>The statuses the front itself produces, whose page an operator may replace.</summary>
    public static readonly IReadOnlyList<int> ErrorPageStatuses = [413, 429, 502, 503, 504];

    public static readonly Setting<IReadOnlyDictionary<string, string>> ErrorPage = new()
    {
        Key = "error_page",
        Section = Section.FrontHttp,
        Type = Collections.TextMap,
        Default = new Dictionary<string, string>(),
        Rules = [new Rule<IReadOnlyDictionary<string, string>>(
            pages => pages.Keys.All(k => int.TryParse(k, NumberStyles.None, CultureInfo.InvariantCulture, out var status) && ErrorPageStatuses.Contains(status)),
            pages => $"has a status the front does not produce: {string.Join(", ", pages.Keys.Where(k => !int.TryParse(k, NumberStyles.None, CultureInfo.InvariantCulture, out var s) || !ErrorPageStatuses.Contains(s)))}.",
            "Use 413, 429, 502, 503 or 504 (the app's own error answers pass through unchanged).")],
        Doc = """
            Files sent as the body of the errors the front produces, as nginx's `error_page 502 503 /50x.html`: a
            mapping such as `{502: errors/502.html, 503: errors/busy.html}` for 413 (body too large), 429 (over a
            limit), 502 (worker failed), 503 (no worker free) and 504 (worker timed out). Sent with their status, a
            Content-Type from the file's extension, and `Retry-After` for 429 and 503. Errors the app answers itself
            pass through unchanged. Paths are relative to the config file and must exist.
            """,
    };

    public static readonly Setting<string?> LimitReqRate = new()
    {
        Key = "limit_req_rate",
        Section = Section.FrontHttp,
        Cli = ["--limit-req-rate"],
        Meta = "RATE",
        Type = Scalars.OptionalText,
        Default = null,
        Rules = [new Rule<string?>(v => v is null || ParseRate(v) is not null,
            v => $"expects a rate such as 10r/s or 600r/m, got \"{v}\".")],
        Doc = """
            Requests per second (`10r/s`) or per minute (`600r/m`) allowed from one client address, as nginx's
            `limit_req_zone $binary_remote_addr ... rate=`. The address is the peer's, or with `forwarded_allow_ips`
            the one a trusted proxy put last in X-Forwarded-For, or the PROXY protocol's. Excess requests wait
            (up to `limit_req_burst` of them) or are refused with `limit_req_status`; they never reach a worker. The
            counters survive reloads. Unset: no limit.
            """,
    };

    public static readonly Setting<int> LimitReqBurst = new()
    {
        Key = "limit_req_burst",
        Section = Section.FrontHttp,
        Cli = ["--limit-req-burst"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 0,
        Rules = [Rules.AtLeast(0)],
        Doc = "Requests over the rate that wait their turn instead of being refused (nginx's `burst=`).",
    };

    public static readonly Setting<bool> LimitReqNodelay = new()
    {
        Key = "limit_req_nodelay",
        Section = Section.FrontHttp,
        Cli = ["--limit-req-nodelay"],
        Meta = "BOOL",
        Type = Scalars.Bool,
        Default = false,
        Doc = "Burst requests are served at once instead of being spaced out at the rate (nginx's `nodelay`).",
    };

    public static readonly Setting<int> LimitReqStatus = new()
    {
        Key = "limit_req_status",
        Section = Section.FrontHttp,
        Cli = ["--limit-req-status"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 429,
        Rules = [new Rule<int>(v => v is >= 400 and <= 599, v => $"must be a 4xx or 5xx status, got {v}.")],
        Doc = "The status of refused requests. nginx's default is 503; 429 tells clients it is their rate.",
    };

    public static readonly Setting<int> LimitConn = new()
    {
        Key = "limit_conn",
        Section = Section.FrontHttp,
        Cli = ["--limit-conn"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 0,
        Rules = [Rules.AtLeast(0)],
        Doc = """
            Requests one client address may have in progress at once, as nginx's `limit_conn` (which counts
            connections with a request in progress); more are refused with `limit_conn_status`. 0: no limit.
            """,
    };

    public static readonly Setting<int> LimitConnStatus = new()
    {
        Key = "limit_conn_status",
        Section = Section.FrontHttp,
        Cli = ["--limit-conn-status"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 429,
        Rules = [new Rule<int>(v => v is >= 400 and <= 599, v => $"must be a 4xx or 5xx status, got {v}.")],
        Doc = "The status of requests refused by `limit_conn` (nginx's default is 503).",
    };

    public static readonly Setting<IReadOnlyList<string>> LimitPaths = new()
    {
        Key = "limit_paths",
        Section = Section.FrontHttp,
        Cli = ["--limit-path"],
        Meta = "PREFIX",
        Type = Collections.PathPrefixList,
        Default = [],
        Doc = """
            URL path prefixes, such as `/login` or `/api`, that `limit_req_rate` and `limit_conn` apply to, as nginx's
            limits inside a `location`. Empty: every request.
            """,
    };

    /// <summary>"10r/s" or "600r/m" as requests per second; null when not a rate.</summary>
    public static double? ParseRate(string text)
    {
        var trimmed = text.Trim();
        var per = trimmed.EndsWith("r/s", StringComparison.Ordinal) ? 1.0
            : trimmed.EndsWith("r/m", StringComparison.Ordinal) ? 60.0
            : 0;
        if (per == 0 || !double.TryParse(trimmed[..^3], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var count) || count <= 0)
        {
            return null;
        }
        return count / per;
    }
}
