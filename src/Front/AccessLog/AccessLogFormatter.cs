using System.Diagnostics;
using System.Globalization;
using System.Text;
using Gunicorn.Settings.Types;
using Microsoft.AspNetCore.Http.Features;

namespace Gunicorn.Front.AccessLog;

/// <summary>What the access log needs to know about one finished request.</summary>
public readonly record struct AccessLogEntry(HttpContext Context, DateTimeOffset Started, long StartTimestamp, long BytesSent);

/// <summary>Renders gunicorn's access log atoms from a compiled format, byte for byte as gunicorn's glogging does.</summary>
public sealed class AccessLogFormatter(string format)
{
    private static readonly string Pid = $"<{Environment.ProcessId}>";
    private readonly IReadOnlyList<AccessLogSegment> _segments = AccessLogFormat.Compile(format);

    public string Format(in AccessLogEntry entry)
    {
        var builder = new StringBuilder(160);
        foreach (var segment in _segments)
        {
            if (segment.Literal is { } literal)
            {
                builder.Append(literal);
            }
            else
            {
                Append(builder, segment.Atom!, entry);
            }
        }
        return builder.ToString();
    }

    private static void Append(StringBuilder builder, string atom, in AccessLogEntry entry)
    {
        var context = entry.Context;
        var request = context.Request;
        var elapsed = Stopwatch.GetElapsedTime(entry.StartTimestamp);
        var micros = (long)(elapsed.Ticks / 10);
        switch (atom)
        {
            case "h": builder.Append(context.Connection.RemoteIpAddress is { } ip ? (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString() : "-"); break;
            case "l": builder.Append('-'); break;
            case "u": builder.Append(BasicAuthUser(request) ?? "-"); break;
            case "t": builder.Append(Timestamp(entry.Started)); break;
            case "r": builder.Append(request.Method).Append(' ').Append(RawTarget(context)).Append(' ').Append(request.Protocol); break;
            case "m": builder.Append(request.Method); break;
            case "U": builder.Append(request.Path.Value); break;
            case "q": builder.Append(request.QueryString.HasValue ? request.QueryString.Value![1..] : ""); break;
            case "H": builder.Append(request.Protocol); break;
            case "s": builder.Append(context.Response.StatusCode); break;
            case "B" or "b": builder.Append(entry.BytesSent); break;
            case "f": builder.Append(HeaderOrDash(request.Headers.Referer)); break;
            case "a": builder.Append(HeaderOrDash(request.Headers.UserAgent)); break;
            case "T": builder.Append(micros / 1_000_000); break;
            case "D": builder.Append(micros); break;
            case "M": builder.Append(micros / 1000); break;
            case "L": builder.Append(CultureInfo.InvariantCulture, $"{micros / 1_000_000}.{micros % 1_000_000:000000}"); break;
            case "p": builder.Append(Pid); break;
            default: AppendNamed(builder, atom, context); break;
        }
    }

    /// <summary><c>{name}i</c> request header, <c>{name}o</c> response header, <c>{name}e</c> WSGI-style variable.</summary>
    private static void AppendNamed(StringBuilder builder, string atom, HttpContext context)
    {
        var name = atom[1..^2];
        var value = atom[^1] switch
        {
            'i' => context.Request.Headers[name].ToString(),
            'o' => context.Response.Headers[name].ToString(),
            _ => Variable(name, context),
        };
        builder.Append(string.IsNullOrEmpty(value) ? "-" : value);
    }

    private static string? Variable(string name, HttpContext context) => name.ToUpperInvariant() switch
    {
        "REMOTE_ADDR" => context.Connection.RemoteIpAddress?.ToString(),
        "REMOTE_PORT" => context.Connection.RemotePort.ToString(CultureInfo.InvariantCulture),
        "REQUEST_METHOD" => context.Request.Method,
        "PATH_INFO" => context.Request.Path.Value,
        "QUERY_STRING" => context.Request.QueryString.HasValue ? context.Request.QueryString.Value![1..] : "",
        "RAW_URI" => RawTarget(context),
        "SERVER_PROTOCOL" => context.Request.Protocol,
        "SERVER_PORT" => context.Connection.LocalPort.ToString(CultureInfo.InvariantCulture),
        "WSGI.URL_SCHEME" => context.Request.Scheme,
        "CONTENT_TYPE" => context.Request.ContentType,
        "CONTENT_LENGTH" => context.Request.ContentLength?.ToString(CultureInfo.InvariantCulture),
        "SERVER_NAME" => context.Request.Host.Host,
        "SCRIPT_NAME" => context.Request.PathBase.Value,
        // The environ's header variables: HTTP_X_REAL_IP is the X-Real-IP header (CGI's name mapping, reversed).
        var cgi when cgi.StartsWith("HTTP_", StringComparison.Ordinal) => HeaderForCgiName(context, cgi["HTTP_".Length..]),
        _ => null,
    };

    private static string? HeaderForCgiName(HttpContext context, string cgiName)
    {
        foreach (var (name, values) in context.Request.Headers)
        {
            if (name.Length == cgiName.Length && string.Equals(name.Replace('-', '_'), cgiName, StringComparison.OrdinalIgnoreCase))
            {
                return values.ToString();
            }
        }
        return null;
    }

    private static string RawTarget(HttpContext context) =>
        context.Features.Get<IHttpRequestFeature>()?.RawTarget is { Length: > 0 } raw ? raw : context.Request.Path + context.Request.QueryString;

    private static string HeaderOrDash(Microsoft.Extensions.Primitives.StringValues value) =>
        value.Count == 0 || string.IsNullOrEmpty(value[0]) ? "-" : value.ToString();

    /// <summary>gunicorn: strftime('[%d/%b/%Y:%H:%M:%S %z]') in local time.</summary>
    private static string Timestamp(DateTimeOffset time)
    {
        var offset = time.Offset;
        var sign = offset < TimeSpan.Zero ? '-' : '+';
        return string.Create(CultureInfo.InvariantCulture,
            $"[{time:dd/MMM/yyyy:HH:mm:ss} {sign}{Math.Abs(offset.Hours):00}{Math.Abs(offset.Minutes):00}]");
    }

    private static string? BasicAuthUser(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (!header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        try
        {
            var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim()));
            var colon = decoded.IndexOf(':');
            return colon < 0 ? null : decoded[..colon];
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
