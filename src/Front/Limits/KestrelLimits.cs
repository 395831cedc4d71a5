using System.Text;
using Gunicorn.Settings.Records;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Gunicorn.Front.Limits;

/// <summary>The request limits Kestrel enforces itself, before any middleware: 414, 431, 413 and 408.</summary>
public static class KestrelLimits
{
    /// <summary>Kestrel accepts a bare LF as a line ending unless this switch is on; gunicorn refuses it (400).</summary>
    public const string StrictLineEndingsSwitch = "Microsoft.AspNetCore.Server.Kestrel.DisableHttp1LineFeedTerminators";

    /// <summary>Kestrel's own default for <c>MaxRequestBufferSize</c>.</summary>
    private const long DefaultRequestBufferSize = 1024 * 1024;

    public static void Apply(KestrelServerOptions kestrel, LimitsConfig limits, int keepAliveSeconds, Http2Config http2)
    {
        // gunicorn's http2_* settings; the connection's window is never smaller than a stream's.
        kestrel.Limits.Http2.MaxStreamsPerConnection = http2.MaxConcurrentStreams;
        kestrel.Limits.Http2.InitialStreamWindowSize = http2.InitialWindowSize;
        kestrel.Limits.Http2.InitialConnectionWindowSize = Math.Max(kestrel.Limits.Http2.InitialConnectionWindowSize, http2.InitialWindowSize);
        kestrel.Limits.Http2.MaxFrameSize = http2.MaxFrameSize;
        AppContext.SetSwitch(StrictLineEndingsSwitch, true);
        kestrel.AddServerHeader = false;
        var k = kestrel.Limits;
        // Kestrel's request-line limit counts the CRLF; gunicorn's does not.
        k.MaxRequestLineSize = limits.RequestLine + 2;
        k.MaxRequestHeaderCount = limits.RequestFields;
        // Each line is checked by StrictRequestMiddleware; the total only has to let every allowed line through.
        k.MaxRequestHeadersTotalSize = (int)Math.Min(int.MaxValue, (long)limits.RequestFields * (limits.RequestFieldSize + 2) + 2);
        // Kestrel refuses to start when its read buffer (1 MiB by default) is smaller than either limit: gunicorn's
        // limit_request_fields 0 (32768) or 128 fields of 8190 bytes are valid and must start. The buffer holds at
        // most one head; bodies are read by request buffering (or at the worker's pace on unbuffered paths).
        k.MaxRequestBufferSize = Math.Max(k.MaxRequestBufferSize ?? DefaultRequestBufferSize,
            Math.Max(k.MaxRequestHeadersTotalSize, k.MaxRequestLineSize));
        k.MaxRequestBodySize = limits.MaxBodySize == 0 ? null : limits.MaxBodySize;
        k.RequestHeadersTimeout = TimeSpan.FromSeconds(limits.HeaderTimeoutSeconds);
        k.KeepAliveTimeout = TimeSpan.FromSeconds(Math.Max(keepAliveSeconds, 1));
        // A client that sends no body byte for client_body_timeout is cut off (408). Slow uploads are otherwise fine.
        // The pauses themselves are timed by request buffering and, for streamed bodies, StreamedBodyPauseLimit;
        // Kestrel refuses a grace period of 1 s or less (it would not start), so shorter timeouts leave it at 2 s.
        k.MinRequestBodyDataRate = new MinDataRate(1, TimeSpan.FromSeconds(Math.Max(limits.BodyTimeoutSeconds, 2)));
        // obs-text (bytes 0x80-0xFF) in header values passes through unchanged, as gunicorn passes it (latin-1).
        // Not for Content-Length (digits only, which the guard checks): Kestrel's custom-encoding path for it decodes
        // into a 20-char buffer, so a zero-padded value of 20 digits got a 400 and a longer one ended the connection
        // without an answer (an ArgumentException inside Kestrel); its default path parses any length.
        kestrel.RequestHeaderEncodingSelector = static name =>
            name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) ? null : Encoding.Latin1;
        kestrel.ResponseHeaderEncodingSelector = _ => Encoding.Latin1;
    }
}
