using System.Text;

namespace Gunicorn.Front.Forwarding.Transport;

/// <summary>
/// The header names workers commonly send, as interned strings: a response head's names are matched against these
/// instead of being allocated per response. The references double as identities for the parser's framing checks.
/// </summary>
internal static class KnownHeaderNames
{
    public const string ContentLength = "Content-Length";
    public const string TransferEncoding = "Transfer-Encoding";
    public const string Connection = "Connection";

    private static readonly string[] Names =
    [
        ContentLength, TransferEncoding, Connection, "Content-Type", "Date", "Server", "Keep-Alive", "Cache-Control",
        "Location", "Set-Cookie", "ETag", "Last-Modified", "Vary", "Content-Encoding", "Content-Disposition", "Expires",
        "Upgrade", "Sec-WebSocket-Accept", "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions", "X-Accel-Redirect",
        "X-Accel-Buffering", "X-Sendfile", "Retry-After", "Accept-Ranges", "Content-Range", "Allow", "Pragma",
        "Access-Control-Allow-Origin", "X-Content-Type-Options", "X-Frame-Options", "Strict-Transport-Security",
        "Referrer-Policy", "Content-Security-Policy", "Link", "Age", "WWW-Authenticate", "Trailer",
    ];

    /// <summary>Names grouped by length, so a lookup compares only names that can match.</summary>
    private static readonly string[][] ByLength = BuildByLength();

    public static string Get(ReadOnlySpan<byte> name) => Get(name, out _);

    /// <summary>The interned name (<paramref name="known"/> true), or a new string for a name not in the list.</summary>
    public static string Get(ReadOnlySpan<byte> name, out bool known)
    {
        known = true;
        if (name.Length < ByLength.Length)
        {
            foreach (var interned in ByLength[name.Length])
            {
                if (Ascii.EqualsIgnoreCase(name, interned))
                {
                    return interned;
                }
            }
        }
        known = false;
        return Encoding.ASCII.GetString(name);
    }

    private static string[][] BuildByLength()
    {
        var longest = Names.Max(n => n.Length);
        var table = new string[longest + 1][];
        for (var length = 0; length <= longest; length++)
        {
            table[length] = Names.Where(n => n.Length == length).ToArray();
        }
        return table;
    }
}
