using System.Collections.Frozen;
using System.Globalization;
using System.Text;
using Gunicorn.AspNetWorker;
using Gunicorn.Backend.Wsgi.Http;

namespace Gunicorn.Backend.Wsgi;

/// <summary>
/// Builds the CGI part of the WSGI environ (PEP 3333) as one NUL-separated string: a single conversion into Python
/// instead of one per key. Header values cannot contain NUL (the front refuses control characters).
/// </summary>
public static class WsgiEnviron
{
    public static string Pack(Http1Request request, int bodyLength)
    {
        var (path, query) = SplitTarget(request.Target);
        var proto = request.Header("X-Forwarded-Proto");
        var (serverName, serverPort) = SplitHost(request.Header("Host") ?? "", proto == "https" ? "443" : "80");
        var builder = new StringBuilder(512);
        Add(builder, "REQUEST_METHOD", request.Method);
        Add(builder, "SCRIPT_NAME", "");
        Add(builder, "PATH_INFO", PercentDecodeLatin1(path));
        Add(builder, "QUERY_STRING", query);
        Add(builder, "RAW_URI", request.Target);
        Add(builder, "SERVER_NAME", serverName);
        Add(builder, "SERVER_PORT", serverPort);
        Add(builder, "SERVER_PROTOCOL", request.Protocol);
        // The front names the real client in its peer header (ADDR PORT); a direct connection has none.
        var (remoteAddress, remotePort) = SplitPeer(request.Header(FrontPeer.Header));
        Add(builder, "REMOTE_ADDR", remoteAddress);
        Add(builder, "REMOTE_PORT", remotePort);
        Add(builder, "wsgi.url_scheme", string.IsNullOrEmpty(proto) ? "http" : proto);
        var contentType = request.Header("Content-Type");
        if (contentType is not null)
        {
            Add(builder, "CONTENT_TYPE", contentType);
        }
        if (bodyLength > 0 || request.Header("Content-Length") is not null)
        {
            Add(builder, "CONTENT_LENGTH", bodyLength.ToString(CultureInfo.InvariantCulture));
        }
        foreach (var (key, value) in CgiHeaders(request.Headers))
        {
            Add(builder, key, value);
        }
        builder.Length--; // the last separator
        return builder.ToString();
    }

    /// <summary>HTTP_* variables: repeated fields joined with commas (RFC 9110), the front's own peer header left out.</summary>
    private static List<KeyValuePair<string, string>> CgiHeaders(List<KeyValuePair<string, string>> headers)
    {
        var result = new List<KeyValuePair<string, string>>(headers.Count);
        var positions = new Dictionary<string, int>(headers.Count, StringComparer.Ordinal);
        foreach (var (name, value) in headers)
        {
            if (name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase)
                || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)
                || name.Equals(FrontPeer.Header, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            var key = CgiKey(name);
            if (!positions.TryGetValue(key, out var existing))
            {
                positions[key] = result.Count;
                result.Add(new(key, value));
            }
            else
            {
                result[existing] = new(key, result[existing].Value + "," + value);
            }
        }
        return result;
    }

    private static readonly FrozenDictionary<string, string> CommonKeys = new[]
    {
        "Host", "Accept", "User-Agent", "Transfer-Encoding", "Connection", "X-Forwarded-For", "X-Forwarded-Proto",
        "X-Forwarded-Host", "Accept-Encoding", "Accept-Language", "Cookie", "traceparent",
    }.ToFrozenDictionary(name => name, name => "HTTP_" + name.ToUpperInvariant().Replace('-', '_'), StringComparer.OrdinalIgnoreCase);

    private static string CgiKey(string name) =>
        CommonKeys.TryGetValue(name, out var key) ? key : "HTTP_" + name.ToUpperInvariant().Replace('-', '_');

    private static (string Address, string Port) SplitPeer(string? peer) =>
        FrontPeer.TryParse(peer, out var address, out var port)
            ? (address.ToString(), port.ToString(CultureInfo.InvariantCulture))
            : ("", "");

    private static void Add(StringBuilder builder, string key, string value) => builder.Append(key).Append('\0').Append(value).Append('\0');

    private static (string Path, string Query) SplitTarget(string raw)
    {
        if (raw.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || raw.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            var slash = raw.IndexOf('/', raw.IndexOf("//", StringComparison.Ordinal) + 2);
            raw = slash < 0 ? "/" : raw[slash..];
        }
        var question = raw.IndexOf('?');
        return question < 0 ? (raw, "") : (raw[..question], raw[(question + 1)..]);
    }

    /// <summary>PEP 3333: PATH_INFO is the percent-decoded bytes, as a latin-1 string.</summary>
    public static string PercentDecodeLatin1(string path)
    {
        if (!path.Contains('%'))
        {
            return path;
        }
        var bytes = new List<byte>(path.Length);
        for (var i = 0; i < path.Length; i++)
        {
            if (path[i] == '%' && i + 2 < path.Length && Uri.IsHexDigit(path[i + 1]) && Uri.IsHexDigit(path[i + 2]))
            {
                bytes.Add(Convert.ToByte(path.Substring(i + 1, 2), 16));
                i += 2;
            }
            else
            {
                bytes.Add((byte)path[i]);
            }
        }
        return Encoding.Latin1.GetString(bytes.ToArray());
    }

    private static (string Name, string Port) SplitHost(string host, string defaultPort)
    {
        if (host.Length == 0)
        {
            return ("localhost", defaultPort);
        }
        var colon = host.LastIndexOf(':');
        return colon > host.LastIndexOf(']') ? (host[..colon], host[(colon + 1)..]) : (host, defaultPort);
    }
}
