using System.Buffers.Text;
using System.Text;

namespace Gunicorn.Worker.Http;

/// <summary>
/// Parses a request head (request line and header fields, without the final blank line) into an
/// <see cref="Http1Request"/>. The front has enforced every limit and rule already; this parser is correct rather
/// than defensive, and refuses what it cannot frame (a body's length) with <see cref="BadRequestException"/>.
/// </summary>
internal static class Http1HeadParser
{
    public static void Parse(ReadOnlySpan<byte> head, Http1Request request)
    {
        request.Reset();
        if (request.Head.Length < head.Length)
        {
            request.Head = new byte[Math.Max(head.Length, request.Head.Length * 2)];
        }
        head.CopyTo(request.Head);
        request.HeadLength = head.Length;
        head = request.Head.AsSpan(0, head.Length);

        var lineEnd = head.IndexOf("\r\n"u8);
        var requestLine = lineEnd < 0 ? head : head[..lineEnd];
        var firstSpace = requestLine.IndexOf((byte)' ');
        var lastSpace = requestLine.LastIndexOf((byte)' ');
        if (firstSpace <= 0 || lastSpace <= firstSpace + 1)
        {
            throw new BadRequestException("malformed request line");
        }
        var protocol = requestLine[(lastSpace + 1)..];
        if (protocol.SequenceEqual("HTTP/1.0"u8))
        {
            request.Http10 = true;
            request.KeepAlive = false;
        }
        else if (!protocol.SequenceEqual("HTTP/1.1"u8))
        {
            throw new BadRequestException($"unsupported protocol \"{Encoding.Latin1.GetString(protocol)}\"");
        }
        request.Method = ..firstSpace;
        request.Target = (firstSpace + 1)..lastSpace;

        var position = lineEnd < 0 ? head.Length : lineEnd + 2;
        while (position < head.Length)
        {
            var rest = head[position..];
            var end = rest.IndexOf("\r\n"u8);
            var line = end < 0 ? rest : rest[..end];
            var colon = line.IndexOf((byte)':');
            if (colon <= 0)
            {
                throw new BadRequestException("malformed header field");
            }
            var valueStart = colon + 1;
            var valueEnd = line.Length;
            while (valueStart < valueEnd && line[valueStart] is (byte)' ' or (byte)'\t')
            {
                valueStart++;
            }
            while (valueEnd > valueStart && line[valueEnd - 1] is (byte)' ' or (byte)'\t')
            {
                valueEnd--;
            }
            var name = position..(position + colon);
            var value = (position + valueStart)..(position + valueEnd);
            request.Headers.Add((name, value));
            Interpret(request, line[..colon], line[valueStart..valueEnd]);
            position += end < 0 ? rest.Length : end + 2;
        }
    }

    /// <summary>The headers that decide framing and the connection's fate.</summary>
    private static void Interpret(Http1Request request, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        switch (name.Length)
        {
            case 14 when Ascii.EqualsIgnoreCase(name, "Content-Length"u8):
                if (!Utf8Parser.TryParse(value, out long length, out var consumed) || consumed != value.Length || length < 0
                    || (request.ContentLength >= 0 && request.ContentLength != length))
                {
                    throw new BadRequestException("invalid Content-Length");
                }
                request.ContentLength = length;
                break;
            case 17 when Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8):
                request.Chunked = LastToken(value).Equals("chunked", StringComparison.OrdinalIgnoreCase)
                    ? true
                    : throw new BadRequestException("unsupported Transfer-Encoding");
                break;
            case 10 when Ascii.EqualsIgnoreCase(name, "Connection"u8):
                if (HasToken(value, "close"))
                {
                    request.KeepAlive = false;
                }
                else if (request.Http10 && HasToken(value, "keep-alive"))
                {
                    request.KeepAlive = true;
                }
                break;
            case 6 when Ascii.EqualsIgnoreCase(name, "Expect"u8):
                request.ExpectContinue = Ascii.EqualsIgnoreCase(value, "100-continue"u8);
                break;
        }
    }

    private static string LastToken(ReadOnlySpan<byte> list)
    {
        var comma = list.LastIndexOf((byte)',');
        return Encoding.Latin1.GetString(list[(comma + 1)..]).Trim();
    }

    private static bool HasToken(ReadOnlySpan<byte> list, string token)
    {
        foreach (var part in Encoding.Latin1.GetString(list).Split(','))
        {
            if (part.Trim().Equals(token, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }
}
