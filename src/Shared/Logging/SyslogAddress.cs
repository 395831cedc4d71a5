using System.Globalization;

namespace Gunicorn.Shared.Logging;

/// <summary>A syslog destination in gunicorn's syntax: <c>unix://PATH#TYPE</c>, <c>udp://HOST:PORT</c>, <c>tcp://HOST:PORT</c>.</summary>
/// <summary>What <c>syslog</c> asks for: where, which facility, the tag's prefix (<c>gunicorn.PREFIX.error</c>), and
/// whether access lines go there too.</summary>
public sealed record SyslogTarget(string Address, string Facility, string Prefix, bool AccessLog);

/// <param name="Datagram">A datagram socket; for a unix path without <c>#TYPE</c>, tried first, then a stream (as
/// Python's SysLogHandler does: /dev/log is a datagram socket under journald and rsyslog).</param>
public sealed record SyslogAddress(string Kind, string HostOrPath, int Port, bool Datagram, bool TypeGiven = true)
{
    public const int DefaultPort = 514;

    /// <summary>The facility names gunicorn accepts, with their codes (RFC 5424 6.2.1).</summary>
    public static readonly IReadOnlyDictionary<string, int> Facilities = new Dictionary<string, int>
    {
        ["auth"] = 4, ["authpriv"] = 10, ["cron"] = 9, ["daemon"] = 3, ["ftp"] = 11, ["kern"] = 0, ["lpr"] = 6,
        ["mail"] = 2, ["news"] = 7, ["security"] = 4, ["syslog"] = 5, ["user"] = 1, ["uucp"] = 8,
        ["local0"] = 16, ["local1"] = 17, ["local2"] = 18, ["local3"] = 19, ["local4"] = 20, ["local5"] = 21,
        ["local6"] = 22, ["local7"] = 23,
    };

    public static bool TryParse(string text, out SyslogAddress address)
    {
        address = null!;
        if (text.StartsWith("unix://", StringComparison.Ordinal))
        {
            var rest = text["unix://".Length..];
            var hash = rest.IndexOf('#');
            var type = hash < 0 ? "dgram" : rest[(hash + 1)..];
            var path = hash < 0 ? rest : rest[..hash];
            if (path.Length == 0 || type is not ("stream" or "dgram"))
            {
                return false;
            }
            address = new SyslogAddress("unix", path, 0, type == "dgram", TypeGiven: hash >= 0);
            return true;
        }
        foreach (var scheme in new[] { "udp", "tcp" })
        {
            if (!text.StartsWith(scheme + "://", StringComparison.Ordinal))
            {
                continue;
            }
            var rest = text[(scheme.Length + 3)..];
            var colon = rest.LastIndexOf(':');
            var host = colon < 0 ? rest : rest[..colon];
            var port = DefaultPort;
            if (host.Length == 0 || (colon >= 0 && !int.TryParse(rest[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port)) || port > 65535)
            {
                return false;
            }
            address = new SyslogAddress(scheme, host.Trim('[', ']'), port, scheme == "udp");
            return true;
        }
        return false;
    }

    public override string ToString() => Kind == "unix" ? $"unix://{HostOrPath}#{(Datagram ? "dgram" : "stream")}" : $"{Kind}://{HostOrPath}:{Port}";
}
