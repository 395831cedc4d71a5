using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace Gunicorn.Front.Listeners;

/// <summary>
/// The PROXY protocol header (HAProxy's spec, versions 1 and 2) that a load balancer sends before the client's bytes:
/// the client's and the balancer's addresses. A connection that does not start with one is plain HTTP.
/// </summary>
public static class ProxyProtocolHeader
{
    public enum Status { NeedMore, Absent, Parsed, Invalid }

    /// <summary>The addresses a header carries; null endpoints for LOCAL (v2) and UNKNOWN (v1): keep the real peer.</summary>
    public sealed record Addresses(IPEndPoint? Source, IPEndPoint? Destination);

    /// <summary>The longest v1 line, CRLF included (the spec's 107 bytes).</summary>
    private const int V1MaxLength = 107;

    /// <summary>TLVs after the addresses are skipped; a v2 header longer than this is refused.</summary>
    private const int V2MaxLength = 16 + 4096;

    private static readonly byte[] V1Prefix = "PROXY "u8.ToArray();
    private static readonly byte[] V2Signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    /// <summary>
    /// Looks at the first bytes of a connection. Parsed: <paramref name="length"/> bytes are the header, described by
    /// <paramref name="addresses"/>. Invalid: <paramref name="error"/> says why.
    /// </summary>
    public static Status TryParse(ReadOnlySequence<byte> input, out int length, out Addresses? addresses, out string? error)
    {
        length = 0;
        addresses = null;
        error = null;
        Span<byte> head = stackalloc byte[16];
        var available = (int)Math.Min(input.Length, head.Length);
        input.Slice(0, available).CopyTo(head);
        head = head[..available];
        if (StartsLike(head, V1Prefix))
        {
            return available < V1Prefix.Length ? Status.NeedMore : ParseV1(input, out length, out addresses, out error);
        }
        if (StartsLike(head, V2Signature))
        {
            return available < 16 ? Status.NeedMore : ParseV2(input, head, out length, out addresses, out error);
        }
        return Status.Absent;
    }

    /// <summary>True when what has arrived so far could still be <paramref name="prefix"/>.</summary>
    private static bool StartsLike(ReadOnlySpan<byte> head, byte[] prefix) =>
        head.Length > 0 && head[..Math.Min(head.Length, prefix.Length)].SequenceEqual(prefix.AsSpan(0, Math.Min(head.Length, prefix.Length)));

    private static Status ParseV1(ReadOnlySequence<byte> input, out int length, out Addresses? addresses, out string? error)
    {
        length = 0;
        addresses = null;
        error = null;
        var window = input.Slice(0, Math.Min(input.Length, V1MaxLength));
        if (window.PositionOf((byte)'\n') is not { } newline)
        {
            if (window.Length >= V1MaxLength)
            {
                error = "PROXY line longer than 107 bytes";
                return Status.Invalid;
            }
            return Status.NeedMore;
        }
        var line = Encoding.ASCII.GetString(window.Slice(0, newline));
        length = line.Length + 1;
        if (!line.EndsWith('\r'))
        {
            error = "PROXY line not ended by CRLF";
            return Status.Invalid;
        }
        var parts = line[..^1].Split(' ');
        if (parts is ["PROXY", "UNKNOWN", ..])
        {
            addresses = new Addresses(null, null);
            return Status.Parsed;
        }
        if (parts is not ["PROXY", "TCP4" or "TCP6", var source, var destination, var sourcePort, var destinationPort])
        {
            error = $"malformed PROXY line '{Printable(line[..^1])}'";
            return Status.Invalid;
        }
        var family = parts[1] == "TCP4" ? System.Net.Sockets.AddressFamily.InterNetwork : System.Net.Sockets.AddressFamily.InterNetworkV6;
        if (Endpoint(source, sourcePort, family) is not { } from || Endpoint(destination, destinationPort, family) is not { } to)
        {
            error = $"invalid address or port in PROXY line '{line[..^1]}'";
            return Status.Invalid;
        }
        addresses = new Addresses(from, to);
        return Status.Parsed;
    }

    private static IPEndPoint? Endpoint(string address, string port, System.Net.Sockets.AddressFamily family)
    {
        var digitsOnly = port.Length is > 0 and <= 5 && port.All(char.IsAsciiDigit) && (port == "0" || port[0] != '0');
        // IPv4 as a dotted quad only (inet_pton's rule): "1.2.3" or "01.2.3.4" are not addresses here.
        return IPAddress.TryParse(address, out var ip) && ip.AddressFamily == family
               && (family != System.Net.Sockets.AddressFamily.InterNetwork || ip.ToString() == address)
               && digitsOnly && int.Parse(port) <= 65535
            ? new IPEndPoint(ip, int.Parse(port))
            : null;
    }

    private static Status ParseV2(ReadOnlySequence<byte> input, ReadOnlySpan<byte> head, out int length, out Addresses? addresses, out string? error)
    {
        addresses = null;
        error = null;
        var payload = BinaryPrimitives.ReadUInt16BigEndian(head[14..16]);
        length = 16 + payload;
        if ((head[12] >> 4) != 2 || (head[12] & 0x0F) > 1)
        {
            error = $"unsupported PROXY v2 version/command 0x{head[12]:X2}";
            return Status.Invalid;
        }
        if (length > V2MaxLength)
        {
            error = $"PROXY v2 header of {length} bytes is over the {V2MaxLength}-byte limit";
            return Status.Invalid;
        }
        if (input.Length < length)
        {
            return Status.NeedMore;
        }
        var body = input.Slice(16, payload).ToArray();
        var isLocal = (head[12] & 0x0F) == 0;
        var (size, addressSize) = (head[13] >> 4) switch { 1 => (12, 4), 2 => (36, 16), _ => (0, 0) };
        if (isLocal || size == 0)
        {
            addresses = new Addresses(null, null); // LOCAL (health checks), or a family without IP addresses
            return Status.Parsed;
        }
        if (payload < size)
        {
            error = $"PROXY v2 address block of {payload} bytes is too short for its family";
            return Status.Invalid;
        }
        var source = new IPAddress(body.AsSpan(0, addressSize));
        var destination = new IPAddress(body.AsSpan(addressSize, addressSize));
        var ports = body.AsSpan(2 * addressSize);
        addresses = new Addresses(
            new IPEndPoint(source, BinaryPrimitives.ReadUInt16BigEndian(ports)),
            new IPEndPoint(destination, BinaryPrimitives.ReadUInt16BigEndian(ports[2..])));
        return Status.Parsed;
    }

    /// <summary>The line as the log may show it: a client's control characters (escape sequences, CR) as \xNN.</summary>
    private static string Printable(string line)
    {
        if (!line.AsSpan().ContainsAnyInRange('\0', '\x1f') && !line.Contains('\x7f'))
        {
            return line;
        }
        var printable = new System.Text.StringBuilder(line.Length + 16);
        foreach (var c in line)
        {
            if (c < ' ' || c == '\x7f')
            {
                printable.Append($"\\x{(int)c:x2}");
            }
            else
            {
                printable.Append(c);
            }
        }
        return printable.ToString();
    }
}
