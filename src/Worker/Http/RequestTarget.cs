namespace Gunicorn.Worker.Http;

/// <summary>The parts of a request target and Host header that the WSGI environ and the ASGI scope both need.</summary>
internal static class RequestTarget
{
    /// <summary>The path and query of a target in origin or absolute form (the path of the latter starts after the authority).</summary>
    public static void Split(ReadOnlySpan<byte> target, out ReadOnlySpan<byte> path, out ReadOnlySpan<byte> query)
    {
        path = target;
        if (path.Length > 0 && path[0] != '/' && path.IndexOf("://"u8) is var scheme and > 0)
        {
            var slash = path[(scheme + 3)..].IndexOf((byte)'/');
            path = slash < 0 ? "/"u8 : path[(scheme + 3 + slash)..];
        }
        var question = path.IndexOf((byte)'?');
        query = question < 0 ? [] : path[(question + 1)..];
        path = question < 0 ? path : path[..question];
    }

    /// <summary>The server's name and port from the Host header; an absent port is the scheme's.</summary>
    public static void SplitHost(ReadOnlySpan<byte> host, bool https, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> port)
    {
        var colon = host.LastIndexOf((byte)':');
        if (host.IsEmpty)
        {
            name = "localhost"u8;
            port = https ? "443"u8 : "80"u8;
        }
        else if (colon > host.LastIndexOf((byte)']'))
        {
            name = host[..colon];
            port = host[(colon + 1)..];
        }
        else
        {
            name = host;
            port = https ? "443"u8 : "80"u8;
        }
    }

    /// <summary>Decodes %XX escapes of <paramref name="path"/> into <paramref name="decoded"/> (at least as long); returns the length.</summary>
    public static int PercentDecode(ReadOnlySpan<byte> path, Span<byte> decoded)
    {
        var length = 0;
        for (var i = 0; i < path.Length; i++)
        {
            if (path[i] == '%' && i + 2 < path.Length && IsHex(path[i + 1]) && IsHex(path[i + 2]))
            {
                decoded[length++] = (byte)(HexValue(path[i + 1]) * 16 + HexValue(path[i + 2]));
                i += 2;
            }
            else
            {
                decoded[length++] = path[i];
            }
        }
        return length;
    }

    private static bool IsHex(byte b) => b is >= (byte)'0' and <= (byte)'9' or >= (byte)'a' and <= (byte)'f' or >= (byte)'A' and <= (byte)'F';

    private static int HexValue(byte b) => b <= '9' ? b - '0' : (b | 0x20) - 'a' + 10;
}
