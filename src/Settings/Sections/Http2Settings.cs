using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Types;

namespace Gunicorn.Settings.Sections;

/// <summary>gunicorn's HTTP/2 settings, applied to the front tier's HTTP/2 connections (Kestrel's Http2Limits).</summary>
public static class Http2Settings
{
    public static readonly Setting<string> Http2Cleartext = new()
    {
        Key = "http2_cleartext",
        Section = Section.ServerSocket,
        Cli = ["--http2-cleartext"],
        Meta = "STRING",
        Type = Scalars.Choice("off", "prior-knowledge", "upgrade", "both"),
        Default = "off",
        Rules = [new Rule<string>(v => v is "off" or "prior-knowledge", v => $"{v}: the HTTP/1.1 `Upgrade: h2c` mechanism is not offered (RFC 9113 deprecated it).",
            "Use prior-knowledge (what proxies speaking HTTP/2 upstream send) or off.")],
        Doc = """
            HTTP/2 without TLS (h2c). `prior-knowledge`: plaintext listeners speak HTTP/2 only, from the connection
            preface on (RFC 9113 3.3), for a trusted proxy that speaks HTTP/2 upstream; HTTP/1 clients are refused
            there, so give such a proxy a listener of its own. Needs `h2` in `http_protocols`. `off`: plaintext
            listeners speak HTTP/1.x, unless `http_protocols` is `h2` alone. `upgrade` and `both` are refused.
            Listeners with TLS negotiate HTTP/2 by ALPN either way.
            """,
    };

    public static readonly Setting<int> Http2MaxConcurrentStreams = new()
    {
        Key = "http2_max_concurrent_streams",
        Section = Section.ServerSocket,
        Cli = ["--http2-max-concurrent-streams"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 100,
        Rules = [Registry.Rules.AtLeast(1)],
        Doc = "Streams (requests) one HTTP/2 connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS).",
    };

    public static readonly Setting<int> Http2InitialWindowSize = new()
    {
        Key = "http2_initial_window_size",
        Section = Section.ServerSocket,
        Cli = ["--http2-initial-window-size"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 65535,
        Rules = [Registry.Rules.AtLeast(65535, "65,535 is the protocol's initial window and Kestrel's smallest; larger speeds up big uploads.")],
        Doc = "The flow-control window, in bytes, each HTTP/2 stream starts with (SETTINGS_INITIAL_WINDOW_SIZE); the connection's window is at least as large.",
    };

    public static readonly Setting<int> Http2MaxFrameSize = new()
    {
        Key = "http2_max_frame_size",
        Section = Section.ServerSocket,
        Cli = ["--http2-max-frame-size"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 16384,
        Rules = [new Rule<int>(v => v is >= 16384 and <= 16777215, v => $"{v} is outside 16384-16777215 (RFC 9113 6.5.2).", "Use 16384, the protocol's default, or up to 16777215.")],
        Doc = "The largest HTTP/2 frame payload the front accepts, in bytes (SETTINGS_MAX_FRAME_SIZE).",
    };

    public static readonly Setting<int> Http2MaxHeaderListSize = new()
    {
        Key = "http2_max_header_list_size",
        Section = Section.ServerSocket,
        Cli = ["--http2-max-header-list-size"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 65536,
        Rules = [Registry.Rules.AtLeast(1024)],
        Doc = """
            The largest decoded header block of an HTTP/2 request, in bytes, counted as RFC 9113 does (name + value +
            32 per field); a larger one is answered 431 and never reaches a worker.
            """,
    };
}
