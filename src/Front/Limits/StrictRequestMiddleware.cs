using Gunicorn.Settings.Records;
using Microsoft.Extensions.Primitives;

namespace Gunicorn.Front.Limits;

/// <summary>
/// gunicorn's request rules that Kestrel does not enforce: per-line header size (431), Content-Length digits only,
/// Transfer-Encoding exactly chunked (501 otherwise) and never in HTTP/1.0, one Content-Type at most, no CONNECT
/// (405; HTTP/2's extended CONNECT, a WebSocket, passes), conventional methods, control characters in values, and header names with '_' per header_map. A refused
/// request never reaches a worker.
/// </summary>
/// <param name="http2HeaderListSize">http2_max_header_list_size: an HTTP/2 request's decoded header block, as RFC 9113
/// counts it (431 beyond).</param>
public sealed class StrictRequestMiddleware(RequestDelegate next, LimitsConfig limits, ProxyConfig proxy, int http2HeaderListSize)
{
    private readonly Forwarding.TrustedPeers _trusted = new(proxy.ForwardedAllowIps);
    public Task InvokeAsync(HttpContext context)
    {
        var refusal = Check(context.Request);
        if (refusal is null)
        {
            return next(context);
        }
        context.Response.StatusCode = refusal.Value.Status;
        // A request we refuse may have left unread bytes in the connection; never reuse it (gunicorn closes too).
        context.Response.Headers.Connection = "close";
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(refusal.Value.Reason + "\n");
    }

    private (int Status, string Reason)? Check(HttpRequest request)
    {
        if (limits.CasefoldHttpMethod)
        {
            request.Method = request.Method.ToUpperInvariant();
        }
        if (HttpProtocol.IsHttp2(request.Protocol) && HeaderListSize(request) > http2HeaderListSize)
        {
            return (StatusCodes.Status431RequestHeaderFieldsTooLarge, $"The request's headers exceed http2_max_header_list_size ({http2HeaderListSize} bytes)");
        }
        // A tunnel to elsewhere is refused; HTTP/2's extended CONNECT (RFC 8441: a WebSocket on a stream) is not one.
        if (HttpMethods.IsConnect(request.Method)
            && request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpExtendedConnectFeature>()?.IsExtendedConnect != true)
        {
            return (StatusCodes.Status405MethodNotAllowed, "CONNECT is not supported");
        }
        if (!limits.PermitUnconventionalHttpMethod && !IsConventionalMethod(request.Method))
        {
            return (StatusCodes.Status400BadRequest, $"Invalid HTTP method: {request.Method}");
        }
        List<string>? underscored = null;
        foreach (var (name, values) in request.Headers)
        {
            foreach (var value in values)
            {
                // The line as sent: name, ": ", value and CRLF (gunicorn counts the line ending too).
                if (name.Length + 2 + (value?.Length ?? 0) + 2 > limits.RequestFieldSize)
                {
                    return (StatusCodes.Status431RequestHeaderFieldsTooLarge, $"Header {name} is larger than limit_request_field_size");
                }
                if (value is not null && value.AsSpan().ContainsAny(ForbiddenControls))
                {
                    return (StatusCodes.Status400BadRequest, $"Invalid character in header {name}");
                }
            }
            if (name.Contains('_') && !IsForwarderHeader(name, request))
            {
                switch (proxy.HeaderMap)
                {
                    case "refuse":
                        return (StatusCodes.Status400BadRequest, $"Invalid header name {name} (contains '_')");
                    case "drop":
                        (underscored ??= []).Add(name);
                        break;
                }
            }
        }
        if (request.Headers.TryGetValue("Content-Length", out var length) && !IsPlainContentLength(length))
        {
            return (StatusCodes.Status400BadRequest, "Invalid Content-Length");
        }
        if (request.Headers.ContentType.Count > 1)
        {
            // Two media types for one body: the app and the front could each believe a different one (gunicorn refuses).
            return (StatusCodes.Status400BadRequest, "More than one Content-Type");
        }
        if (request.Headers.TryGetValue("Transfer-Encoding", out var coding))
        {
            // RFC 9112 section 6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing; gunicorn refuses it too.
            if (HttpProtocol.IsHttp10(request.Protocol))
            {
                return (StatusCodes.Status400BadRequest, "Transfer-Encoding in an HTTP/1.0 request");
            }
            if (!string.Equals(coding.ToString().Trim(), "chunked", StringComparison.OrdinalIgnoreCase))
            {
                return (StatusCodes.Status501NotImplemented, $"Unsupported transfer coding: {coding}");
            }
            // Kestrel keeps a Content-Length sent with Transfer-Encoding as X-Content-Length; gunicorn refuses both.
            if (request.Headers.ContainsKey("Content-Length") || request.Headers.ContainsKey("X-Content-Length"))
            {
                return (StatusCodes.Status400BadRequest, "Content-Length with Transfer-Encoding");
            }
        }
        // Not `underscored ?? []`: that makes an empty list for every request.
        if (underscored is not null)
        {
            foreach (var name in underscored)
            {
                // gunicorn's "drop": a header such as Content_Length could pass for Content-Length in the WSGI environ.
                request.Headers.Remove(name);
            }
        }
        return null;
    }

    /// <summary>gunicorn: no lowercase letters or '#', and 3 to 20 characters.</summary>
    private static bool IsConventionalMethod(string method) =>
        method.Length is >= 3 and <= 20 && !method.AsSpan().ContainsAny(LowercaseOrHash);

    private static readonly System.Buffers.SearchValues<char> LowercaseOrHash =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyz#");

    /// <summary>Control characters other than horizontal tab, and DEL.</summary>
    private static readonly System.Buffers.SearchValues<char> ForbiddenControls = System.Buffers.SearchValues.Create(
        Enumerable.Range(0, 32).Where(c => c != '\t').Append(0x7f).Select(c => (char)c).ToArray());

    private static bool IsPlainContentLength(StringValues values) =>
        values.Count == 1 && values[0] is { Length: > 0 } text && text.All(char.IsAsciiDigit);

    /// <summary>forwarder_headers (SCRIPT_NAME...) keep their underscore when a trusted proxy sends them, as in gunicorn.</summary>
    private bool IsForwarderHeader(string name, HttpRequest request) =>
        proxy.ForwarderHeaders.Contains(name, StringComparer.OrdinalIgnoreCase) && _trusted.Trusts(request.HttpContext.Connection.RemoteIpAddress);

    /// <summary>SETTINGS_MAX_HEADER_LIST_SIZE's measure: each field's name and value plus 32 (RFC 9113 6.5.2), the
    /// pseudo-headers included.</summary>
    private static long HeaderListSize(HttpRequest request)
    {
        long size = ":method".Length + request.Method.Length + ":path".Length + (request.Path.Value?.Length ?? 0)
            + (request.QueryString.Value?.Length ?? 0);
        size += ":scheme".Length + request.Scheme.Length + 3 * 32;
        foreach (var (name, values) in request.Headers)
        {
            foreach (var value in values)
            {
                size += name.Length + (value?.Length ?? 0) + 32;
            }
        }
        return size;
    }
}
