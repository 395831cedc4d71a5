using System.Net.Sockets;
using System.Text;

namespace Gunicorn.Tests.Conformance;

/// <summary>A response read off a raw connection.</summary>
public sealed record RawResponse(int Status, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body)
{
    public string BodyText => Encoding.UTF8.GetString(Body);
}

/// <summary>
/// Sends bytes exactly as given over TCP and reads whole responses back (Content-Length, chunked or until close),
/// because HttpClient would normalise the very things these tests probe.
/// </summary>
public static class RawHttp
{
    /// <summary>Sends <paramref name="request"/> and reads up to <paramref name="expected"/> responses, stopping at close or the deadline.</summary>
    public static async Task<(List<RawResponse> Responses, bool Closed)> ExchangeAsync(
        Uri server, byte[] request, int expected, TimeSpan deadline, bool halfCloseWhenIdle = false)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(server.Host, server.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(request);
        var buffer = new List<byte>();
        var responses = new List<RawResponse>();
        var closed = false;
        using var overall = new CancellationTokenSource(deadline);
        var chunk = new byte[65536];
        var halfClosed = false;
        while (responses.Count < expected && !overall.IsCancellationRequested)
        {
            using var idle = CancellationTokenSource.CreateLinkedTokenSource(overall.Token);
            idle.CancelAfter(halfCloseWhenIdle && !halfClosed ? TimeSpan.FromSeconds(1) : deadline);
            int read;
            try
            {
                read = await stream.ReadAsync(chunk, idle.Token);
            }
            catch (OperationCanceledException) when (!overall.IsCancellationRequested && halfCloseWhenIdle && !halfClosed)
            {
                // The server waits for more of a body that will never come: tell it the client is done.
                client.Client.Shutdown(SocketShutdown.Send);
                halfClosed = true;
                continue;
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (IOException)
            {
                closed = true;
                break;
            }
            if (read == 0)
            {
                closed = true;
                // A response without Content-Length or chunking ends at close (HTTP/1.0).
                if (TryParse(buffer, out var last, out _, atEnd: true))
                {
                    responses.Add(last);
                }
                break;
            }
            buffer.AddRange(chunk.AsSpan(0, read));
            while (TryParse(buffer, out var response, out var consumed))
            {
                responses.Add(response);
                buffer.RemoveRange(0, consumed);
            }
        }
        return (responses, closed);
    }

    private static bool TryParse(List<byte> buffer, out RawResponse response, out int consumed, bool atEnd = false)
    {
        response = null!;
        consumed = 0;
        var data = buffer.ToArray();
        var headerEnd = IndexOf(data, "\r\n\r\n"u8, 0);
        if (headerEnd < 0)
        {
            return false;
        }
        var lines = Encoding.Latin1.GetString(data, 0, headerEnd).Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1]);
        var headers = lines.Skip(1).Select(l => l.Split(':', 2)).Select(p => KeyValuePair.Create(p[0].Trim(), p[1].Trim())).ToList();
        var bodyStart = headerEnd + 4;
        var length = headers.FirstOrDefault(h => h.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)).Value;
        var chunked = headers.Any(h => h.Key.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) && h.Value.Contains("chunked"));
        if (chunked)
        {
            var body = new List<byte>();
            var position = bodyStart;
            while (true)
            {
                var lineEnd = IndexOf(data, "\r\n"u8, position);
                if (lineEnd < 0)
                {
                    return false;
                }
                var size = Convert.ToInt32(Encoding.ASCII.GetString(data, position, lineEnd - position).Split(';')[0], 16);
                position = lineEnd + 2;
                if (size == 0)
                {
                    var trailerEnd = IndexOf(data, "\r\n"u8, position);
                    if (trailerEnd < 0)
                    {
                        return false;
                    }
                    consumed = trailerEnd + 2;
                    break;
                }
                if (position + size + 2 > data.Length)
                {
                    return false;
                }
                body.AddRange(data.AsSpan(position, size));
                position += size + 2;
            }
            response = new RawResponse(status, headers, body.ToArray());
            return true;
        }
        if (length is null && !atEnd && status is not (204 or 304))
        {
            return false;
        }
        var bodyLength = length is null ? data.Length - bodyStart : int.Parse(length);
        if (data.Length < bodyStart + bodyLength)
        {
            return false;
        }
        response = new RawResponse(status, headers, data[bodyStart..(bodyStart + bodyLength)]);
        consumed = bodyStart + bodyLength;
        return true;
    }

    private static int IndexOf(byte[] data, ReadOnlySpan<byte> pattern, int from)
    {
        var index = data.AsSpan(from).IndexOf(pattern);
        return index < 0 ? -1 : index + from;
    }
}
