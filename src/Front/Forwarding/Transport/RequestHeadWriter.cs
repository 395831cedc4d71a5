using System.Net.Http.Headers;

namespace Gunicorn.Front.Forwarding.Transport;

/// <summary>
/// Writes a request head into a connection's buffer from what the forwarder prepared: the headers are written as they
/// are (the front's Kestrel already validated them; nothing is parsed again), and the body's framing is decided here,
/// as SocketsHttpHandler decides it: Content-Length when the length is known, chunked otherwise, and
/// <c>Content-Length: 0</c> for a bodiless method that normally carries one.
/// </summary>
internal static class RequestHeadWriter
{
    /// <summary>How the request body goes to the worker.</summary>
    internal readonly record struct Framing(bool HasBody, bool Chunked, long Length);

    public static Framing Write(WorkerConnection connection, HttpRequestMessage request)
    {
        var uri = request.RequestUri!;
        connection.AppendLatin1(request.Method.Method);
        connection.Append(" "u8);
        connection.AppendLatin1(PathAndQuery(uri));
        connection.Append(" HTTP/1.1\r\n"u8);
        if (!request.Headers.NonValidated.Contains("Host"))
        {
            connection.Append("Host: "u8);
            connection.AppendLatin1(uri.Authority);
            connection.Append("\r\n"u8);
        }
        WriteHeaders(connection, request.Headers.NonValidated);
        var content = request.Content;
        Framing framing;
        if (content is null)
        {
            if (CarriesBody(request.Method))
            {
                connection.Append("Content-Length: 0\r\n"u8);
            }
            framing = new Framing(HasBody: false, Chunked: false, Length: 0);
        }
        else
        {
            WriteHeaders(connection, content.Headers.NonValidated);
            if (content.Headers.ContentLength is { } length)
            {
                connection.Append("Content-Length: "u8);
                connection.AppendNumber(length);
                connection.Append("\r\n"u8);
                framing = new Framing(HasBody: true, Chunked: false, Length: length);
            }
            else
            {
                connection.Append("Transfer-Encoding: chunked\r\n"u8);
                framing = new Framing(HasBody: true, Chunked: true, Length: -1);
            }
        }
        connection.Append("\r\n"u8);
        return framing;
    }

    /// <summary>
    /// The request target: sliced from the URI as the forwarder wrote it (<c>http://KEY/path?query</c>) when Uri would
    /// not change a character of it, rather than through Uri.PathAndQuery, which builds the URI's parsed parts and a
    /// string per request. Anything Uri canonicalizes (dot segments, escaped unreserved characters, lower-case or
    /// invalid escapes, characters it escapes) is left to Uri, so the worker sees exactly what it saw before.
    /// </summary>
    internal static ReadOnlySpan<char> PathAndQuery(Uri uri)
    {
        var text = uri.OriginalString.AsSpan();
        if (text.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            var afterScheme = text["http://".Length..];
            var start = afterScheme.IndexOfAny('/', '?', '#');
            if (start > 0 && afterScheme[start] == '/' && IsCanonical(afterScheme[start..]))
            {
                return afterScheme[start..];
            }
        }
        return uri.PathAndQuery;
    }

    private static readonly System.Buffers.SearchValues<char> CanonicalTargetChars =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/?=&;:@!$'()*+,%");

    private static bool IsCanonical(ReadOnlySpan<char> target)
    {
        if (target.ContainsAnyExcept(CanonicalTargetChars))
        {
            return false;
        }
        var query = target.IndexOf('?');
        if ((query < 0 ? target : target[..query]).Contains("/.", StringComparison.Ordinal))
        {
            return false; // a dot segment, perhaps: Uri removes those
        }
        for (var i = 0; i < target.Length; i++)
        {
            if (target[i] != '%')
            {
                continue;
            }
            // Upper-case hex of a character that stays escaped (Uri decodes escaped unreserved characters).
            if (i + 2 >= target.Length || !char.IsAsciiHexDigitUpper(target[i + 1]) || !char.IsAsciiHexDigitUpper(target[i + 2])
                || IsUnreserved((char)byte.Parse(target.Slice(i + 1, 2), System.Globalization.NumberStyles.AllowHexSpecifier)))
            {
                return false;
            }
            i += 2;
        }
        return true;
    }

    private static bool IsUnreserved(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~';

    /// <summary>Whether the request asks the worker to close the connection after answering.</summary>
    public static bool AsksToClose(HttpRequestMessage request) =>
        request.Headers.NonValidated.TryGetValues("Connection", out var values) && Contains(values, "close");

    private static void WriteHeaders(WorkerConnection connection, HttpHeadersNonValidated headers)
    {
        foreach (var (name, values) in headers)
        {
            // Framing is this writer's decision. Expect was the client's to the front, which has answered it (the body
            // is sent at once): forwarded, a worker would wait for a 100 Continue that never comes, or send one late.
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)
                || name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)
                || name.Equals("Expect", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            connection.AppendLatin1(name);
            connection.Append(": "u8);
            var first = true;
            var separator = Separator(name);
            foreach (var value in values)
            {
                if (!first)
                {
                    connection.AppendLatin1(separator);
                }
                connection.AppendLatin1(value);
                first = false;
            }
            connection.Append("\r\n"u8);
        }
    }

    /// <summary>Several values of one header on one line, joined as HTTP/1.1 requires for that header.</summary>
    private static string Separator(string name) =>
        name.Equals("Cookie", StringComparison.OrdinalIgnoreCase) ? "; "
        : name.Equals("User-Agent", StringComparison.OrdinalIgnoreCase) ? " "
        : ", ";

    /// <summary>Methods that send <c>Content-Length: 0</c> without a body (SocketsHttpHandler's rule).</summary>
    private static bool CarriesBody(HttpMethod method) =>
        method != HttpMethod.Get && method != HttpMethod.Head && method != HttpMethod.Options && method != HttpMethod.Delete
        && method != HttpMethod.Trace && method != HttpMethod.Connect;

    private static bool Contains(HeaderStringValues values, string token)
    {
        foreach (var value in values)
        {
            foreach (var part in value.Split(','))
            {
                if (part.Trim().Equals(token, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }
        return false;
    }
}
