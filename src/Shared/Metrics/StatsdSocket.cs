using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Gunicorn.Shared.Logging;

namespace Gunicorn.Shared.Metrics;

/// <summary>Where a process sends StatsD lines: <c>statsd_host</c>, <c>statsd_prefix</c>, <c>dogstatsd_tags</c>.</summary>
public sealed record StatsdTarget(string Host, string Prefix, string? Tags)
{
    /// <summary>gunicorn adds the dot a prefix does not end with.</summary>
    public string MetricPrefix => Prefix.Length > 0 && !Prefix.EndsWith('.') ? Prefix + "." : Prefix;

    /// <summary>DogStatsD's tag suffix, or empty.</summary>
    public string TagSuffix => string.IsNullOrEmpty(Tags) ? "" : "|#" + Tags;
}

/// <summary>The non-blocking datagram socket StatsD lines go out on (UDP, or a unix: datagram socket).</summary>
public static class StatsdSocket
{
    /// <summary>A connected socket, or null with the reason (the host does not resolve, the address is malformed...).</summary>
    public static Socket? Open(string host, out string? problem)
    {
        Socket? socket = null;
        try
        {
            EndPoint endpoint;
            if (host.StartsWith("unix:", StringComparison.Ordinal))
            {
                socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
                endpoint = new UnixDomainSocketEndPoint(host["unix:".Length..]);
            }
            else
            {
                var colon = host.LastIndexOf(':');
                var name = host[..colon].Trim('[', ']');
                var port = int.Parse(host[(colon + 1)..], CultureInfo.InvariantCulture);
                var address = IPAddress.TryParse(name, out var literal) ? literal : Dns.GetHostAddresses(name)[0];
                socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                endpoint = new IPEndPoint(address, port);
            }
            socket.Blocking = false;
            socket.Connect(endpoint);
            problem = null;
            return socket;
        }
        catch (Exception e) when (e is SocketException or FormatException or IndexOutOfRangeException or ArgumentException)
        {
            socket?.Dispose();
            problem = e.Message;
            return null;
        }
    }

    /// <summary>
    /// gunicorn's <c>gunicorn.log.warning|error|critical</c> counters for this process's error-log lines (each
    /// gunicorn process counts its own). Silent when StatsD cannot be reached: the master already warned.
    /// </summary>
    public static void CountLogLines(StatsdTarget target)
    {
        if (Open(target.Host, out _) is not { } socket)
        {
            return;
        }
        var prefix = target.MetricPrefix;
        var tags = target.TagSuffix;
        ErrorLog.Counted = level =>
        {
            try
            {
                socket.Send(Encoding.ASCII.GetBytes($"{prefix}gunicorn.log.{level}:1|c|@1.0{tags}"), SocketFlags.None, out _);
            }
            catch (ObjectDisposedException)
            {
                // Exiting.
            }
        };
    }
}
