using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Types;

namespace Gunicorn.Settings.Sections;

public static class FrontLimitSettings
{
    public static readonly Setting<long> ClientMaxBodySize = new()
    {
        Key = "client_max_body_size",
        Section = Section.FrontLimits,
        Cli = ["--client-max-body-size"],
        Meta = "SIZE",
        Type = Quantities.Bytes,
        Default = 1024 * 1024,
        Doc = "The largest request body accepted; larger ones are answered 413. 0 means unlimited. nginx's default, 1m.",
    };

    public static readonly Setting<double> ClientHeaderTimeout = new()
    {
        Key = "client_header_timeout",
        Section = Section.FrontLimits,
        Cli = ["--client-header-timeout"],
        Meta = "DURATION",
        Type = Quantities.Seconds,
        Default = 60,
        Rules = [Rules.AtLeast(0.1)],
        Doc = "Time a client gets to send the request line and headers; then 408 and the connection is closed.",
    };

    public static readonly Setting<double> ClientBodyTimeout = new()
    {
        Key = "client_body_timeout",
        Section = Section.FrontLimits,
        Cli = ["--client-body-timeout"],
        Meta = "DURATION",
        Type = Quantities.Seconds,
        Default = 60,
        Rules = [Rules.AtLeast(0.1)],
        Doc = """
            The longest pause allowed between two reads of a request body; then 408 and the connection is closed (a
            body streamed to the worker, `request_buffering: false` or `unbuffered_paths`: the connection is closed).
            """,
    };

    public static readonly Setting<double> SendTimeout = new()
    {
        Key = "send_timeout",
        Section = Section.FrontLimits,
        Cli = ["--send-timeout"],
        Meta = "DURATION",
        Type = Quantities.Seconds,
        Default = 60,
        Rules = [Rules.AtLeast(0.1)],
        Doc = """
            The longest time a client may take to accept more of a response (nginx's `send_timeout`: between two
            writes that get through, not over the whole response); a client that takes nothing for this long is
            disconnected. Every response: proxied (buffered or streamed), static files (sendfile(2) or copied),
            HTTP/2, WebSocket.
            """,
    };

    public static readonly Setting<bool> RequestBuffering = new()
    {
        Key = "request_buffering",
        Section = Section.FrontLimits,
        Cli = ["--request-buffering"],
        Meta = "BOOL",
        Type = Scalars.Bool,
        Default = true,
        Doc = "Read the whole request body at the front before a worker is involved, so slow uploads never hold a worker.",
    };

    public static readonly Setting<long> RequestBufferSize = new()
    {
        Key = "request_buffer_size",
        Section = Section.FrontLimits,
        Cli = ["--request-buffer-size"],
        Meta = "SIZE",
        Type = Quantities.Bytes,
        Default = 64 * 1024,
        Doc = "Request bodies up to this size are buffered in memory; larger ones in a temporary file, always removed.",
    };

    public static readonly Setting<bool> ResponseBuffering = new()
    {
        Key = "response_buffering",
        Section = Section.FrontLimits,
        Cli = ["--response-buffering"],
        Meta = "BOOL",
        Type = Scalars.Bool,
        Default = true,
        Doc = """
            Take the worker's response at local speed so the worker is free at once, then send it to the client. A
            response header `X-Accel-Buffering: no` turns it off for that response (streaming, server-sent events).
            """,
    };

    public static readonly Setting<IReadOnlyList<string>> UnbufferedPaths = new()
    {
        Key = "unbuffered_paths",
        Section = Section.FrontLimits,
        Cli = ["--unbuffered-path"],
        Meta = "PREFIX",
        Type = Collections.PathPrefixList,
        Default = [],
        Doc = """
            URL path prefixes (e.g. `/events`, `/upload/stream`) whose requests and responses are streamed, not
            buffered: nginx's per-location `proxy_buffering off` and `proxy_request_buffering off`. The worker then
            reads the body at the client's pace and the client reads the response at the worker's, so give such
            routes to `gthread` or async workers.
            """,
    };

    public static readonly Setting<long> ResponseBufferSize = new()
    {
        Key = "response_buffer_size",
        Section = Section.FrontLimits,
        Cli = ["--response-buffer-size"],
        Meta = "SIZE",
        Type = Quantities.Bytes,
        Default = 1024 * 1024,
        Doc = "Responses up to this size are buffered in memory; larger ones in a temporary file, always removed.",
    };

    public static readonly Setting<int> RequestQueueSize = new()
    {
        Key = "request_queue_size",
        Section = Section.FrontLimits,
        Cli = ["--request-queue-size"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 1000,
        Rules = [Rules.AtLeast(0)],
        Doc = """
            Requests waiting at the front for a free worker; beyond this they are answered 503 with Retry-After. A
            request that waits longer than `timeout` seconds for a worker gets the same 503 (with `timeout` 0 it
            waits as long as it takes).
            """,
    };

    public static readonly Setting<double> DrainPeriod = new()
    {
        Key = "drain_period",
        Section = Section.FrontLimits,
        Cli = ["--drain-period"],
        Meta = "DURATION",
        Type = Quantities.Seconds,
        Default = 0,
        Rules = [Rules.AtLeast(0.0)],
        Doc = """
            On TERM, keep serving this long before the listeners close: `health_path` answers 503 and every response
            says `Connection: close` (an HTTP/2 connection gets a GOAWAY), so load balancers and Kubernetes move
            traffic away without a failed request.
            """,
    };

    public static readonly Setting<string?> HealthPath = new()
    {
        Key = "health_path",
        Section = Section.FrontLimits,
        Cli = ["--health-path"],
        Meta = "PATH",
        Type = Scalars.OptionalText,
        Default = null,
        Rules = [new Rule<string?>(v => v is null || v.StartsWith('/'), v => $"must start with '/', got \"{v}\".")],
        Doc = """
            A URL path the front answers itself, never forwarded: 200 `ok` while at least one worker is ready, 503
            while none is or while draining after TERM. Unset: no health endpoint (the path goes to the app).
            """,
    };
}
