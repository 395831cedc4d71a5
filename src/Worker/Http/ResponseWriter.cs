using System.Buffers;
using System.Buffers.Text;
using System.Text;
using Gunicorn.Shared.Logging;

namespace Gunicorn.Worker.Http;

/// <summary>
/// Writes one response on a connection as the app produces it. The head goes out with the first block of the body
/// (one send); framing is the worker's: the app's Content-Length is honoured (never more bytes than it; fewer closes
/// the connection), otherwise a complete body gets its length and a streamed one is chunked (HTTP/1.1) or ends with
/// the connection (HTTP/1.0). Hop-by-hop headers from the app are dropped, as gunicorn does.
/// </summary>
internal sealed unsafe class ResponseWriter(Http1Connection connection)
{
    private byte[] _head = ArrayPool<byte>.Shared.Rent(1024);
    private int _headLength;
    private int _status;
    private bool _headSent;
    private bool _framed;
    private bool _chunked;
    private bool _noBody;
    private bool _mustClose;
    private bool _keepAlive;
    private bool _isHead;
    private bool _http10;
    private bool _failed;
    private long _declaredLength;
    private long _sent;

    /// <summary>The status line's code, once <see cref="Start"/> was called.</summary>
    public int Status => _status;

    public bool HeadSent => _headSent;

    /// <summary>Body bytes the client will receive (within the declared length).</summary>
    public long BytesSent => _sent;

    /// <summary>The app declared a Content-Length (-1: it did not).</summary>
    public long DeclaredLength => _declaredLength;

    /// <summary>For a new request: whether its connection may stay open after this response.</summary>
    public void Begin(Http1Request request, bool keepAlive)
    {
        _headLength = 0;
        _status = 0;
        _headSent = _framed = _chunked = _noBody = _mustClose = _failed = false;
        _declaredLength = -1;
        _sent = 0;
        _keepAlive = keepAlive && request.KeepAlive;
        _isHead = request.IsHead;
        _http10 = request.Http10;
    }

    /// <summary>Starts (or, before anything was sent, restarts) the head: <paramref name="status"/> is e.g. <c>200 OK</c>.</summary>
    /// <exception cref="FormatException">The status is not three digits and a reason.</exception>
    public void Start(ReadOnlySpan<byte> status)
    {
        if (status.Length < 4 || !Utf8Parser.TryParse(status[..3], out int code, out var consumed) || consumed != 3 || status[3] != ' '
            || status.IndexOfAny("\r\n\0"u8) >= 0)
        {
            throw new FormatException($"invalid status {Encoding.Latin1.GetString(status)}: expected e.g. '200 OK'");
        }
        _status = code;
        _framed = _chunked = false;
        _noBody = _isHead || code < 200 || code == 204 || code == 304;
        _declaredLength = -1;
        _mustClose = false;
        _headLength = 0;
        Append("HTTP/1.1 "u8);
        Append(status);
        Append("\r\n"u8);
    }

    /// <summary>Adds a header the app gave; framing and hop-by-hop headers are taken as information, not copied.</summary>
    /// <exception cref="FormatException">The name is not a token, or the value holds CR, LF or NUL.</exception>
    public void AddHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        if (name.IsEmpty || name.IndexOfAnyExcept(TokenBytes) >= 0)
        {
            throw new FormatException($"invalid header name {Encoding.Latin1.GetString(name)}");
        }
        if (value.IndexOfAny("\r\n\0"u8) >= 0)
        {
            throw new FormatException($"invalid value for header {Encoding.Latin1.GetString(name)}");
        }
        switch (name.Length)
        {
            case 14 when Ascii.EqualsIgnoreCase(name, "Content-Length"u8):
                var trimmed = value.Trim(" \t"u8);
                if (!Utf8Parser.TryParse(trimmed, out long length, out var consumed) || consumed != trimmed.Length || length < 0)
                {
                    throw new FormatException($"invalid Content-Length {Encoding.Latin1.GetString(value)}");
                }
                _declaredLength = length;
                return;
            case 10 when Ascii.EqualsIgnoreCase(name, "Connection"u8):
                _mustClose |= Ascii.EqualsIgnoreCase(value.Trim(" \t"u8), "close"u8);
                return;
            case 17 when Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8):
            case 10 when Ascii.EqualsIgnoreCase(name, "Keep-Alive"u8):
            case 18 when Ascii.EqualsIgnoreCase(name, "Proxy-Authenticate"u8):
            case 19 when Ascii.EqualsIgnoreCase(name, "Proxy-Authorization"u8):
            case 2 when Ascii.EqualsIgnoreCase(name, "TE"u8):
            case 8 when Ascii.EqualsIgnoreCase(name, "Trailers"u8):
            case 7 when Ascii.EqualsIgnoreCase(name, "Upgrade"u8):
                return; // hop-by-hop: the worker frames the connection itself
        }
        Append(name);
        Append(": "u8);
        Append(value);
        Append("\r\n"u8);
    }

    /// <summary>
    /// The whole body at once (a list the app returned): its length is known, so no chunking. After blocks went out
    /// through write(), the response is already streaming and these follow as more blocks.
    /// </summary>
    public void WriteComplete(ReadOnlySpan<Syscalls.IoVec> blocks)
    {
        if (_headSent)
        {
            foreach (var block in blocks)
            {
                Write(new ReadOnlySpan<byte>(block.Base, (int)block.Length));
            }
            return;
        }
        long total = 0;
        foreach (var block in blocks)
        {
            total += (long)block.Length;
        }
        if (_declaredLength < 0)
        {
            _declaredLength = total;
        }
        Span<Syscalls.IoVec> all = blocks.Length <= 15 ? stackalloc Syscalls.IoVec[blocks.Length + 1] : new Syscalls.IoVec[blocks.Length + 1];
        var count = 0;
        FrameHead();
        fixed (byte* head = _head)
        {
            all[count++] = new Syscalls.IoVec { Base = head, Length = (nuint)_headLength };
            if (!_noBody)
            {
                var room = _declaredLength;
                foreach (var block in blocks)
                {
                    var take = (nuint)Math.Min((long)block.Length, room);
                    if (take > 0)
                    {
                        all[count++] = new Syscalls.IoVec { Base = block.Base, Length = take };
                        room -= (long)take;
                    }
                }
                _sent = _declaredLength - room;
                NoteOverflow(total);
            }
            _headSent = true;
            connection.Send(all[..count]);
        }
    }

    /// <summary>One block of a streamed body: the head goes with the first one.</summary>
    public void Write(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty && _headSent)
        {
            return;
        }
        if (!_headSent)
        {
            FrameHead();
        }
        if (_noBody)
        {
            data = [];
        }
        else if (_declaredLength >= 0)
        {
            var room = _declaredLength - _sent;
            if (data.Length > room)
            {
                NoteOverflow(_sent + data.Length);
                data = data[..(int)room];
            }
        }
        Span<byte> chunkHeader = stackalloc byte[20];
        var chunkHeaderLength = 0;
        if (_chunked && !data.IsEmpty)
        {
            Utf8Formatter.TryFormat(data.Length, chunkHeader, out chunkHeaderLength, 'x');
            chunkHeader[chunkHeaderLength++] = (byte)'\r';
            chunkHeader[chunkHeaderLength++] = (byte)'\n';
        }
        fixed (byte* head = _head, body = data, framing = chunkHeader, crlf = "\r\n"u8)
        {
            Span<Syscalls.IoVec> parts = stackalloc Syscalls.IoVec[4];
            var count = 0;
            if (!_headSent)
            {
                parts[count++] = new Syscalls.IoVec { Base = head, Length = (nuint)_headLength };
            }
            if (chunkHeaderLength > 0)
            {
                parts[count++] = new Syscalls.IoVec { Base = framing, Length = (nuint)chunkHeaderLength };
            }
            if (!data.IsEmpty)
            {
                parts[count++] = new Syscalls.IoVec { Base = body, Length = (nuint)data.Length };
                if (_chunked)
                {
                    parts[count++] = new Syscalls.IoVec { Base = crlf, Length = 2 };
                }
            }
            _headSent = true;
            _sent += data.Length;
            if (count > 0)
            {
                connection.Send(parts[..count]);
            }
        }
    }

    /// <summary>Sends <paramref name="count"/> bytes of a file with sendfile(2) (the head first); returns the bytes sent.</summary>
    public long SendFile(int fileFd, long offset, long count)
    {
        if (_declaredLength < 0)
        {
            _declaredLength = count; // the length is known: no chunking
        }
        Write([]);
        if (_noBody)
        {
            return 0;
        }
        var sent = Syscalls.SendFile(connection.Fd, fileFd, offset, Math.Min(count, _declaredLength - _sent));
        _sent += sent;
        return sent;
    }

    /// <summary>
    /// Ends the response (the head if nothing was sent, the last chunk); returns whether the connection may serve
    /// another request. A body shorter than its declared length is logged and closes the connection.
    /// </summary>
    public bool Finish()
    {
        if (!_headSent)
        {
            if (_declaredLength < 0)
            {
                _declaredLength = 0;
            }
            Write([]);
        }
        else if (_chunked && !_failed)
        {
            // Never after a failure mid-body: the last chunk would tell the front the response is complete.
            connection.Send("0\r\n\r\n"u8);
        }
        if (!_noBody && _declaredLength >= 0 && _sent < _declaredLength)
        {
            ErrorLog.Error($"The app's response was shorter than its Content-Length ({_sent} of {_declaredLength} bytes); closing the connection.");
            _failed = true;
        }
        return _keepAlive && !_mustClose && !_failed;
    }

    /// <summary>Something went wrong after the head was sent: the connection must close (no second head is possible).</summary>
    public void Fail() => _failed = true;

    /// <summary>Decides the framing and completes the head.</summary>
    private void FrameHead()
    {
        if (_framed)
        {
            return;
        }
        _framed = true;
        if (_noBody)
        {
            if (_isHead && _declaredLength >= 0)
            {
                AppendLength(_declaredLength);
            }
        }
        else if (_declaredLength >= 0)
        {
            AppendLength(_declaredLength);
        }
        else if (_http10)
        {
            _mustClose = true; // the body ends with the connection
        }
        else
        {
            _chunked = true;
            Append("Transfer-Encoding: chunked\r\n"u8);
        }
        if (!_keepAlive || _mustClose)
        {
            Append("Connection: close\r\n"u8);
        }
        Append("\r\n"u8);
    }

    private void NoteOverflow(long produced)
    {
        if (produced > _declaredLength && !_failed)
        {
            ErrorLog.Error($"The app produced more than its Content-Length ({produced} > {_declaredLength} bytes); the rest was not sent and the connection closes.");
            _failed = true;
        }
    }

    private void AppendLength(long length)
    {
        Append("Content-Length: "u8);
        Span<byte> digits = stackalloc byte[20];
        Utf8Formatter.TryFormat(length, digits, out var written);
        Append(digits[..written]);
        Append("\r\n"u8);
    }

    private void Append(ReadOnlySpan<byte> bytes)
    {
        if (_headLength + bytes.Length > _head.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_head.Length * 2, _headLength + bytes.Length));
            _head.AsSpan(0, _headLength).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_head);
            _head = larger;
        }
        bytes.CopyTo(_head.AsSpan(_headLength));
        _headLength += bytes.Length;
    }

    /// <summary>RFC 9110 tchar.</summary>
    private static readonly SearchValues<byte> TokenBytes =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);
}
