using System.Text;

namespace Gunicorn.Worker.Http;

/// <summary>
/// One request head as the front sent it: a copy of its bytes and the positions of its parts, so that the WSGI
/// environ is built straight from the bytes (latin-1, as PEP 3333 wants) without .NET strings in between. One instance
/// per connection, reused for each request on it.
/// </summary>
internal sealed class Http1Request
{
    public byte[] Head = new byte[1024];
    public int HeadLength;
    public Range Method, Target;
    public bool Http10;
    public readonly List<(Range Name, Range Value)> Headers = new(24);

    /// <summary>The body's framing: -1 when there is no Content-Length.</summary>
    public long ContentLength;
    public bool Chunked;
    public bool KeepAlive;
    public bool ExpectContinue;

    public ReadOnlySpan<byte> this[Range part] => Head.AsSpan(0, HeadLength)[part];

    public bool HasBody => Chunked || ContentLength > 0;

    public bool IsHead => this[Method].SequenceEqual("HEAD"u8);

    public string MethodText => Encoding.Latin1.GetString(this[Method]);

    public string TargetText => Encoding.Latin1.GetString(this[Target]);

    /// <summary>The first value of a header, or an empty span (names compared case-insensitively).</summary>
    public ReadOnlySpan<byte> Header(ReadOnlySpan<byte> name)
    {
        foreach (var (headerName, value) in Headers)
        {
            if (Ascii.EqualsIgnoreCase(this[headerName], name))
            {
                return this[value];
            }
        }
        return [];
    }

    public bool HasHeader(ReadOnlySpan<byte> name)
    {
        foreach (var (headerName, _) in Headers)
        {
            if (Ascii.EqualsIgnoreCase(this[headerName], name))
            {
                return true;
            }
        }
        return false;
    }

    public void Reset()
    {
        HeadLength = 0;
        Headers.Clear();
        ContentLength = -1;
        Chunked = false;
        KeepAlive = true;
        ExpectContinue = false;
        Http10 = false;
    }
}

/// <summary>A request the worker cannot parse: answered with 400 and the connection closed.</summary>
internal class BadRequestException(string reason) : Exception(reason);

/// <summary>The front closed the connection inside a request body: to an ASGI app, its client went away.</summary>
internal sealed class BodyCutShortException(string reason) : BadRequestException(reason);
