using System.Globalization;
using System.Text;

namespace Gunicorn.Backend.Wsgi.Http;

/// <summary>Parses a request head (request line and header fields, without the final blank line).</summary>
public static class Http1HeadParser
{
    public static Http1Request Parse(ReadOnlySpan<byte> head)
    {
        var lineEnd = head.IndexOf("\r\n"u8);
        var requestLine = lineEnd < 0 ? head : head[..lineEnd];
        var firstSpace = requestLine.IndexOf((byte)' ');
        var lastSpace = requestLine.LastIndexOf((byte)' ');
        if (firstSpace <= 0 || lastSpace <= firstSpace + 1)
        {
            throw new BadRequestException("malformed request line");
        }
        var protocol = Known(requestLine[(lastSpace + 1)..]);
        if (protocol is not ("HTTP/1.1" or "HTTP/1.0"))
        {
            throw new BadRequestException($"unsupported protocol \"{protocol}\"");
        }
        var headers = new List<KeyValuePair<string, string>>(16);
        var rest = lineEnd < 0 ? [] : head[(lineEnd + 2)..];
        var hasBody = false;
        var connectionClose = protocol == "HTTP/1.0";
        while (!rest.IsEmpty)
        {
            var end = rest.IndexOf("\r\n"u8);
            var line = end < 0 ? rest : rest[..end];
            rest = end < 0 ? [] : rest[(end + 2)..];
            var colon = line.IndexOf((byte)':');
            if (colon <= 0)
            {
                throw new BadRequestException("malformed header field");
            }
            var name = Known(line[..colon]);
            var value = Encoding.Latin1.GetString(line[(colon + 1)..].Trim(" \t"u8));
            headers.Add(new(name, value));
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                hasBody |= value != "0";
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                hasBody = true;
            }
            else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                connectionClose = HasToken(value, "close") || (protocol == "HTTP/1.0" && !HasToken(value, "keep-alive"));
            }
        }
        return new Http1Request
        {
            Method = Known(requestLine[..firstSpace]),
            Target = Encoding.Latin1.GetString(requestLine[(firstSpace + 1)..lastSpace]),
            Protocol = protocol,
            Headers = headers,
            HasBody = hasBody,
            KeepAlive = !connectionClose,
        };
    }

    public static bool IsChunked(Http1Request request) =>
        request.Header("Transfer-Encoding") is { } encoding && HasToken(encoding, "chunked");

    public static long ContentLength(Http1Request request) =>
        long.TryParse(request.Header("Content-Length"), NumberStyles.None, CultureInfo.InvariantCulture, out var length)
            ? length
            : throw new BadRequestException("invalid Content-Length");

    private static bool HasToken(string list, string token)
    {
        foreach (var part in list.Split(','))
        {
            if (part.Trim().Equals(token, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    // The strings every request repeats, shared instead of allocated per request.
    private static readonly string[] Common =
    [
        "GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "HTTP/1.1", "HTTP/1.0", "Host", "Accept",
        "User-Agent", "Content-Length", "Content-Type", "Transfer-Encoding", "Connection", "X-Forwarded-For",
        "X-Forwarded-Proto", "X-Forwarded-Host", "Gunicorn-Net-Peer", "Accept-Encoding", "Accept-Language", "Cookie",
        "traceparent",
    ];

    private static string Known(ReadOnlySpan<byte> bytes)
    {
        foreach (var common in Common)
        {
            if (common.Length == bytes.Length && Ascii.Equals(bytes, common))
            {
                return common;
            }
        }
        return Encoding.Latin1.GetString(bytes);
    }
}
