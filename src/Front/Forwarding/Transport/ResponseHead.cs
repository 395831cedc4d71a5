using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace Gunicorn.Front.Forwarding.Transport;

/// <summary>How a worker's response body is framed, decided from its head (RFC 9112 section 6.3).</summary>
internal enum BodyFraming
{
    None,
    ContentLength,
    Chunked,
    UntilClose,
    Upgraded,
}

/// <summary>What the transport needs from a response head beyond the headers it hands to the forwarder.</summary>
internal readonly record struct ResponseHead(int StatusCode, BodyFraming Framing, long ContentLength, bool KeepAlive);

/// <summary>
/// Parses a worker's response head from the bytes read so far, straight into an <see cref="HttpResponseMessage"/>:
/// spans over the read buffer, header names of common headers never allocated, values decoded as Latin-1 (obs-text
/// passes through). Anything malformed is a <see cref="WorkerProtocolException"/>, which the client sees as a 502.
/// </summary>
internal static class ResponseHeadParser
{
    /// <summary>The largest head accepted from a worker (SocketsHttpHandler's default limit).</summary>
    public const int MaxHeadBytes = 64 * 1024;

    private static readonly SearchValues<byte> TokenBytes =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    /// <summary>The length of the head including its blank line, or -1 when the blank line has not arrived yet.</summary>
    public static int FindEnd(ReadOnlySpan<byte> data)
    {
        var offset = 0;
        while (true)
        {
            var newline = data[offset..].IndexOf((byte)'\n');
            if (newline < 0)
            {
                return -1;
            }
            var lineEnd = offset + newline;
            // A line of its own: "\n" or "\r\n" right after the previous line's end (not at the very start).
            if (offset > 0 && (lineEnd == offset || (lineEnd == offset + 1 && data[offset] == '\r')))
            {
                return lineEnd + 1;
            }
            offset = lineEnd + 1;
        }
    }

    /// <summary>
    /// Parses a complete head (as found by <see cref="FindEnd"/>) into <paramref name="response"/>; header values equal
    /// to the ones the connection's worker sent last time come from <paramref name="values"/> instead of new strings.
    /// </summary>
    public static ResponseHead Parse(ReadOnlySpan<byte> head, HttpResponseMessage response, bool isHeadRequest,
        HeaderValueCache? values = null)
    {
        var lineLength = head.IndexOf((byte)'\n');
        var statusLine = TrimCr(head[..lineLength]);
        var (status, http10) = ParseStatusLine(statusLine, response);
        var contentLength = -1L;
        bool chunked = false, otherCoding = false, close = http10, keepAlive = false;
        var rest = head[(lineLength + 1)..];
        while (NextField(ref rest, "header", out var nameBytes, out var valueBytes))
        {
            var name = KnownHeaderNames.Get(nameBytes, out var knownName);
            if (ReferenceEquals(name, KnownHeaderNames.ContentLength))
            {
                if (!Utf8Parser.TryParse(valueBytes, out long length, out var used) || used != valueBytes.Length || length < 0
                    || (contentLength >= 0 && contentLength != length))
                {
                    throw new WorkerProtocolException($"an invalid Content-Length ({Describe(valueBytes)})");
                }
                contentLength = length;
            }
            else if (ReferenceEquals(name, KnownHeaderNames.TransferEncoding))
            {
                // The last coding decides (RFC 9112 6.3): chunked last means chunked framing, anything else reads to close.
                var last = valueBytes[(valueBytes.LastIndexOf((byte)',') + 1)..].Trim(" \t"u8);
                chunked = Ascii.EqualsIgnoreCase(last, "chunked"u8);
                otherCoding = !chunked;
            }
            else if (ReferenceEquals(name, KnownHeaderNames.Connection))
            {
                close |= HasToken(valueBytes, "close"u8);
                keepAlive |= HasToken(valueBytes, "keep-alive"u8);
            }
            var value = values is not null ? values.Get(name, valueBytes, knownName)
                : valueBytes.IsEmpty ? "" : Encoding.Latin1.GetString(valueBytes);
            if (!response.Headers.TryAddWithoutValidation(name, value))
            {
                response.Content.Headers.TryAddWithoutValidation(name, value);
            }
        }
        if (http10 && keepAlive)
        {
            close = false;
        }
        if (status == 101)
        {
            return new ResponseHead(status, BodyFraming.Upgraded, -1, KeepAlive: false);
        }
        if (isHeadRequest || status is 204 or 304 || status < 200)
        {
            return new ResponseHead(status, BodyFraming.None, 0, !close && !chunked && !otherCoding);
        }
        if (chunked || otherCoding)
        {
            // With a Transfer-Encoding, a Content-Length is ignored; the pair is a smuggling sign, so no reuse either.
            response.Content.Headers.Remove(KnownHeaderNames.ContentLength);
            var reusable = !close && chunked && contentLength < 0;
            return new ResponseHead(status, chunked ? BodyFraming.Chunked : BodyFraming.UntilClose, -1, reusable);
        }
        if (contentLength >= 0)
        {
            return new ResponseHead(status, contentLength == 0 ? BodyFraming.None : BodyFraming.ContentLength, contentLength, !close);
        }
        return new ResponseHead(status, BodyFraming.UntilClose, -1, KeepAlive: false);
    }

    /// <summary>Parses a chunked body's trailer section (header lines up to the blank line) into the response's trailers.</summary>
    public static void ParseTrailers(ReadOnlySpan<byte> trailers, HttpResponseMessage response)
    {
        while (NextField(ref trailers, "trailer", out var name, out var value))
        {
            response.TrailingHeaders.TryAddWithoutValidation(KnownHeaderNames.Get(name), Encoding.Latin1.GetString(value));
        }
    }

    /// <summary>
    /// Takes the next field line (<c>name: value</c>) of a head or trailer section off <paramref name="rest"/>;
    /// false at the blank line that ends the section. A line that is not a token, a colon and a value without
    /// control characters is the worker's protocol error.
    /// </summary>
    private static bool NextField(ref ReadOnlySpan<byte> rest, string section, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        name = value = default;
        if (rest.IsEmpty)
        {
            return false;
        }
        var newline = rest.IndexOf((byte)'\n');
        var line = TrimCr(newline < 0 ? rest : rest[..newline]);
        rest = newline < 0 ? default : rest[(newline + 1)..];
        if (line.IsEmpty)
        {
            return false;
        }
        var colon = line.IndexOf((byte)':');
        if (colon <= 0 || line[..colon].ContainsAnyExcept(TokenBytes))
        {
            // Also an obs-fold continuation line (starts with a space): refused, as RFC 9112 lets a proxy do.
            throw new WorkerProtocolException($"a malformed {section} line ({Describe(line)})");
        }
        name = line[..colon];
        value = line[(colon + 1)..].Trim(" \t"u8);
        if (value.IndexOfAny((byte)'\r', (byte)'\0') >= 0)
        {
            throw new WorkerProtocolException($"a control character in {section} {Encoding.ASCII.GetString(name)}");
        }
        return true;
    }

    private static (int Status, bool Http10) ParseStatusLine(ReadOnlySpan<byte> line, HttpResponseMessage response)
    {
        // "HTTP/1.1 200 OK": version, a space, three digits, then a space and a reason (which may be empty) or nothing.
        if (line.Length < 12 || !line.StartsWith("HTTP/1."u8) || line[7] is not ((byte)'0' or (byte)'1') || line[8] != ' '
            || !IsDigit(line[9]) || !IsDigit(line[10]) || !IsDigit(line[11]) || (line.Length > 12 && line[12] != ' '))
        {
            throw new WorkerProtocolException($"a malformed status line ({Describe(line)})");
        }
        var status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
        if (status < 100)
        {
            throw new WorkerProtocolException($"status {status}");
        }
        response.StatusCode = (System.Net.HttpStatusCode)status;
        response.Version = line[7] == '0' ? System.Net.HttpVersion.Version10 : System.Net.HttpVersion.Version11;
        if (line.Length > 13)
        {
            var reason = line[13..];
            // The standard phrase is left unset (the forwarder then uses its own): only a worker's own wording is carried.
            if (!Ascii.Equals(reason, Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status)))
            {
                response.ReasonPhrase = Encoding.Latin1.GetString(reason);
            }
        }
        return (status, line[7] == '0');
    }

    private static bool HasToken(ReadOnlySpan<byte> list, ReadOnlySpan<byte> token)
    {
        foreach (var range in list.Split((byte)','))
        {
            if (Ascii.EqualsIgnoreCase(list[range].Trim(" \t"u8), token))
            {
                return true;
            }
        }
        return false;
    }

    private static bool IsDigit(byte b) => b is >= (byte)'0' and <= (byte)'9';

    private static ReadOnlySpan<byte> TrimCr(ReadOnlySpan<byte> line) => line is [.., (byte)'\r'] ? line[..^1] : line;

    /// <summary>A bounded, printable excerpt of what the worker sent, for the log line.</summary>
    internal static string Describe(ReadOnlySpan<byte> bytes)
    {
        var excerpt = bytes[..Math.Min(bytes.Length, 60)];
        var text = new StringBuilder(excerpt.Length + 8);
        foreach (var b in excerpt)
        {
            text.Append(b is >= 0x20 and < 0x7f ? (char)b : '?');
        }
        return bytes.Length > excerpt.Length ? text.Append("...").ToString() : text.ToString();
    }
}
