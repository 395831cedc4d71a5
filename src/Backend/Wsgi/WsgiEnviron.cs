using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Gunicorn.Backend.Wsgi;

/// <summary>
/// Builds the CGI part of the WSGI environ (PEP 3333) as one NUL-separated string: a single conversion into Python
/// instead of one per key. Header values cannot contain NUL (the front refuses control characters).
/// </summary>
public static class WsgiEnviron
{
    public static string Pack(HttpContext context, int bodyLength)
    {
        var request = context.Request;
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? (request.Path + request.QueryString);
        var (path, query) = SplitTarget(raw);
        var (serverName, serverPort) = SplitHost(request.Host.Value ?? "", request.Headers["X-Forwarded-Proto"].ToString() == "https" ? "443" : "80");
        var builder = new StringBuilder(512);
        Add(builder, "REQUEST_METHOD", request.Method);
        Add(builder, "SCRIPT_NAME", "");
        Add(builder, "PATH_INFO", PercentDecodeLatin1(path));
        Add(builder, "QUERY_STRING", query);
        Add(builder, "RAW_URI", raw);
        Add(builder, "SERVER_NAME", serverName);
        Add(builder, "SERVER_PORT", serverPort);
        Add(builder, "SERVER_PROTOCOL", request.Protocol);
        // The worker set these from the front's peer header (WorkerContract.TakePeer): the real client.
        Add(builder, "REMOTE_ADDR", context.Connection.RemoteIpAddress?.ToString() ?? "");
        Add(builder, "REMOTE_PORT", context.Connection.RemoteIpAddress is null ? "" : context.Connection.RemotePort.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Add(builder, "wsgi.url_scheme", request.Headers["X-Forwarded-Proto"] is { Count: > 0 } proto ? proto.ToString() : "http");
        if (request.ContentType is { } contentType)
        {
            Add(builder, "CONTENT_TYPE", contentType);
        }
        if (bodyLength > 0 || request.ContentLength is not null)
        {
            Add(builder, "CONTENT_LENGTH", bodyLength.ToString());
        }
        foreach (var (name, values) in request.Headers)
        {
            if (name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase) || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            Add(builder, "HTTP_" + name.ToUpperInvariant().Replace('-', '_'), string.Join(",", values.ToArray()));
        }
        builder.Length--; // the last separator
        return builder.ToString();
    }

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
