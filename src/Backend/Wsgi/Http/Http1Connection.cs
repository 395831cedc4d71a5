using System.Buffers;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Gunicorn.Backend.Wsgi.Http;

/// <summary>
/// One keep-alive connection from the front to a WSGI worker, read and written with blocking calls on the thread
/// that runs the app: a request costs one receive and one send, with no thread hand-off. The front has already
/// enforced every limit and normalised the request, so this parser only needs to be correct, not defensive about
/// size: it reads HTTP/1.1 as SocketsHttpHandler writes it (Content-Length or chunked bodies, Expect: 100-continue).
/// </summary>
public sealed class Http1Connection : IDisposable
{
    /// <summary>A bound against a runaway peer only; the front's own header limits are far below it.</summary>
    private const int MaxHeadBytes = 64 * 1024 * 1024;

    /// <summary>Responses up to this size go out with their head in a single send.</summary>
    private const int CoalesceLimit = 64 * 1024;

    private static readonly byte[] Continue = "HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray();

    private readonly Socket _socket;
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(8192);
    private int _start;
    private int _end;

    public Http1Connection(Socket socket)
    {
        _socket = socket;
        Fd = (int)socket.Handle;
    }

    /// <summary>The socket's descriptor, for the event loop's poll.</summary>
    public int Fd { get; }

    /// <summary>Reads the next request and its whole body; null when the peer closed the connection between requests.</summary>
    /// <exception cref="BadRequestException">The bytes are not an HTTP/1.x request.</exception>
    /// <exception cref="SocketException">The connection broke.</exception>
    public Http1Request? ReadRequest()
    {
        int headLength;
        while ((headLength = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8)) < 0)
        {
            if (_end - _start > MaxHeadBytes)
            {
                throw new BadRequestException("request head too large");
            }
            if (!Fill())
            {
                return _end == _start ? null : throw new BadRequestException("connection closed inside a request head");
            }
        }
        var request = Http1HeadParser.Parse(_buffer.AsSpan(_start, headLength));
        _start += headLength + 4;
        if (request.HasBody)
        {
            if (request.Header("Expect") is { } expect && expect.Equals("100-continue", StringComparison.OrdinalIgnoreCase))
            {
                Send(Continue);
            }
            request.Body = Http1HeadParser.IsChunked(request) ? ReadChunkedBody() : ReadBody(Http1HeadParser.ContentLength(request));
        }
        return request;
    }

    /// <summary>
    /// Writes a response: <paramref name="packedHead"/> is the status line's text, then header names and values, all
    /// separated by NUL. Framing is ours: the app's Content-Length, Transfer-Encoding and Connection are replaced.
    /// </summary>
    public void WriteResponse(string packedHead, ReadOnlySpan<byte> body, bool sendBody, bool keepAlive)
    {
        var head = FormatHead(packedHead, body.Length, keepAlive, out var bodyAllowed);
        if (!bodyAllowed || !sendBody)
        {
            body = [];
        }
        var headBytes = Encoding.Latin1.GetByteCount(head);
        if (headBytes + body.Length <= CoalesceLimit)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(headBytes + body.Length);
            try
            {
                Encoding.Latin1.GetBytes(head, buffer);
                body.CopyTo(buffer.AsSpan(headBytes));
                Send(buffer.AsSpan(0, headBytes + body.Length));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            return;
        }
        Send(Encoding.Latin1.GetBytes(head));
        Send(body);
    }

    /// <summary>The response head as text (latin-1 on the wire); bodyAllowed is false for 1xx, 204 and 304.</summary>
    public static string FormatHead(string packedHead, int length, bool keepAlive, out bool bodyAllowed)
    {
        var parts = packedHead.Split('\0');
        var status = parts[0];
        var code = int.Parse(status.AsSpan(0, 3), CultureInfo.InvariantCulture);
        bodyAllowed = code >= 200 && code != 204 && code != 304;
        var builder = new StringBuilder(128 + packedHead.Length);
        builder.Append("HTTP/1.1 ").Append(status).Append("\r\n");
        for (var i = 1; i + 1 < parts.Length; i += 2)
        {
            var name = parts[i];
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)
                || name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)
                || name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            builder.Append(name).Append(": ").Append(parts[i + 1]).Append("\r\n");
        }
        if (bodyAllowed)
        {
            builder.Append("Content-Length: ").Append(length).Append("\r\n");
        }
        if (!keepAlive)
        {
            builder.Append("Connection: close\r\n");
        }
        return builder.Append("\r\n").ToString();
    }

    private void Send(ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            bytes = bytes[_socket.Send(bytes)..];
        }
    }

    /// <summary>Receives more bytes after those buffered; false at end of stream.</summary>
    private bool Fill()
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }
        else if (_end == _buffer.Length)
        {
            var larger = _start > 0 ? _buffer : ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
            _buffer.AsSpan(_start, _end - _start).CopyTo(larger);
            if (larger != _buffer)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = larger;
            }
            _end -= _start;
            _start = 0;
        }
        var received = _socket.Receive(_buffer, _end, _buffer.Length - _end, SocketFlags.None);
        _end += received;
        return received > 0;
    }

    private byte[] ReadBody(long length)
    {
        if (length > Array.MaxLength)
        {
            throw new BadRequestException($"Content-Length {length} is beyond what a worker buffers");
        }
        var body = new byte[length];
        var buffered = (int)Math.Min(length, _end - _start);
        _buffer.AsSpan(_start, buffered).CopyTo(body);
        _start += buffered;
        for (var filled = buffered; filled < body.Length;)
        {
            var received = _socket.Receive(body, filled, body.Length - filled, SocketFlags.None);
            filled += received > 0 ? received : throw new BadRequestException("connection closed inside a request body");
        }
        return body;
    }

    private byte[] ReadChunkedBody()
    {
        using var body = new MemoryStream();
        while (true)
        {
            var sizeLine = ReadLine();
            var extension = sizeLine.IndexOf(';');
            var hex = (extension < 0 ? sizeLine : sizeLine[..extension]).Trim();
            if (!long.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var size) || size < 0)
            {
                throw new BadRequestException($"invalid chunk size \"{hex}\"");
            }
            if (size == 0)
            {
                while (ReadLine().Length > 0)
                {
                    // trailer fields: WSGI has no place for them
                }
                return body.ToArray();
            }
            for (var remaining = size; remaining > 0;)
            {
                if (_start == _end && !Fill())
                {
                    throw new BadRequestException("connection closed inside a chunk");
                }
                var take = (int)Math.Min(remaining, _end - _start);
                body.Write(_buffer, _start, take);
                _start += take;
                remaining -= take;
            }
            if (ReadLine().Length != 0)
            {
                throw new BadRequestException("chunk data longer than its size");
            }
        }
    }

    /// <summary>The next CRLF-terminated line (without the CRLF), as latin-1.</summary>
    private string ReadLine()
    {
        int length;
        while ((length = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n"u8)) < 0)
        {
            if (_end - _start > MaxHeadBytes || !Fill())
            {
                throw new BadRequestException("incomplete chunked body");
            }
        }
        var line = Encoding.Latin1.GetString(_buffer, _start, length);
        _start += length + 2;
        return line;
    }

    public void Dispose()
    {
        _socket.Dispose();
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }
}
