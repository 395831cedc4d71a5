using System.Net.Sockets;
using System.Text;

namespace Gunicorn.Tests.Infrastructure;

/// <summary>Reads exactly one HTTP/1.1 response from a raw socket, leaving the connection usable for the next one.</summary>
public static class OneResponse
{
    /// <summary>Reads one response: its head, and the body its Content-Length announces.</summary>
    public static async Task<(string Head, string Body)> ReadAsync(Socket socket, TimeSpan deadline)
    {
        var received = new List<byte>();
        var buffer = new byte[8192];
        int headEnd;
        while ((headEnd = Encoding.Latin1.GetString(received.ToArray()).IndexOf("\r\n\r\n", StringComparison.Ordinal)) < 0)
        {
            var n = await socket.ReceiveAsync(buffer).WaitAsync(deadline);
            if (n == 0)
            {
                throw new EndOfStreamException("the server closed the connection before a whole response head");
            }
            received.AddRange(buffer.AsSpan(0, n).ToArray());
        }
        var head = Encoding.Latin1.GetString(received.ToArray(), 0, headEnd);
        var length = head.Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)) is { } line
            ? int.Parse(line["Content-Length:".Length..].Trim())
            : 0;
        while (received.Count < headEnd + 4 + length)
        {
            var n = await socket.ReceiveAsync(buffer).WaitAsync(deadline);
            if (n == 0)
            {
                throw new EndOfStreamException("the server closed the connection inside a response body");
            }
            received.AddRange(buffer.AsSpan(0, n).ToArray());
        }
        return (head, Encoding.UTF8.GetString(received.ToArray(), headEnd + 4, length));
    }

}
