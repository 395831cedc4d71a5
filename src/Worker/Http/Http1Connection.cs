using System.Buffers;
using Gunicorn.Worker.Python;

namespace Gunicorn.Worker.Http;

/// <summary>
/// One keep-alive connection from the front to the worker, read and written with blocking calls on the thread that
/// serves it (the GIL released around each): a request usually costs one receive and one send. The request body is
/// not read up front: the app reads it as it asks (<see cref="Body"/>), at local speed, as gunicorn reads its socket.
/// </summary>
internal sealed class Http1Connection : IDisposable
{
    /// <summary>A bound against a runaway peer only; the front's own header limits are far below it.</summary>
    private const int MaxHeadBytes = 1024 * 1024;

    private static readonly byte[] Continue = "HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray();

    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
    private int _start;
    private int _end;
    private bool _continueSent;

    public Http1Connection(int fd)
    {
        Fd = fd;
        Body = new RequestBody(this);
        Response = new ResponseWriter(this);
    }

    /// <summary>The socket's descriptor, for the event loop's poll and for sends.</summary>
    public int Fd { get; }

    /// <summary>
    /// Receives never wait (the asgi worker's event loop calls in only when the socket is readable): when nothing has
    /// arrived, a read throws <see cref="WouldBlockException"/> with what was consumed so far left as it was.
    /// </summary>
    public bool NonBlocking { get; init; }

    public Http1Request Request { get; } = new();

    /// <summary>The current request's body, read on demand.</summary>
    public RequestBody Body { get; }

    /// <summary>The current request's response.</summary>
    public ResponseWriter Response { get; }

    /// <summary>100 Continue was sent for the current request (so its client is sending the body).</summary>
    public bool ContinueSent => _continueSent;

    /// <summary>Bytes received and not yet consumed.</summary>
    public ReadOnlySpan<byte> Buffered => _buffer.AsSpan(_start, _end - _start);

    /// <summary>Reads the next request head into <see cref="Request"/>; false when the peer closed between requests.</summary>
    /// <exception cref="BadRequestException">The bytes are not an HTTP/1.x request.</exception>
    /// <exception cref="ConnectionLostException">The connection broke.</exception>
    public bool ReadHead()
    {
        int headLength;
        var searched = 0;
        while ((headLength = _buffer.AsSpan(_start + searched, _end - _start - searched).IndexOf("\r\n\r\n"u8)) < 0)
        {
            searched = Math.Max(0, _end - _start - 3);
            if (_end - _start > MaxHeadBytes)
            {
                throw new BadRequestException("request head too large");
            }
            if (!Fill())
            {
                return _end == _start ? false : throw new BadRequestException("connection closed inside a request head");
            }
        }
        headLength += searched;
        Http1HeadParser.Parse(_buffer.AsSpan(_start, headLength), Request);
        _start += headLength + 4;
        _continueSent = false;
        Body.Begin(Request);
        return true;
    }

    /// <summary>Consumes <paramref name="count"/> buffered bytes.</summary>
    public void Consume(int count) => _start += count;

    /// <summary>
    /// Receives more bytes after those buffered, with the GIL released; false at end of stream. A client waiting for
    /// 100 Continue is told to go on the first time its body is needed.
    /// </summary>
    public bool Fill()
    {
        if (Request.ExpectContinue && !_continueSent)
        {
            _continueSent = true;
            Send(Continue);
        }
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
        var received = Receive(_buffer.AsSpan(_end));
        _end += received;
        return received > 0;
    }

    /// <summary>Receives straight into <paramref name="destination"/> when nothing is buffered (large bodies skip the copy).</summary>
    public int ReceiveDirect(Span<byte> destination)
    {
        if (Request.ExpectContinue && !_continueSent)
        {
            _continueSent = true;
            Send(Continue);
        }
        return Receive(destination);
    }

    private int Receive(Span<byte> destination)
    {
        if (NonBlocking)
        {
            var received = Syscalls.ReceiveNow(Fd, destination);
            return received >= 0 ? received : throw WouldBlockException.Instance;
        }
        using (Gil.Released())
        {
            return Syscalls.Receive(Fd, destination);
        }
    }

    public void Send(ReadOnlySpan<byte> bytes)
    {
        using (Gil.Released())
        {
            Syscalls.SendAll(Fd, bytes);
        }
    }

    public void Send(Span<Syscalls.IoVec> buffers)
    {
        using (Gil.Released())
        {
            Syscalls.SendAll(Fd, buffers);
        }
    }

    /// <summary>Gives the descriptor away (a WebSocket's session takes it): the buffers are released, the socket stays open.</summary>
    public int Detach()
    {
        ReleaseBuffer();
        return Fd;
    }

    public void Dispose()
    {
        Syscalls.Close(Fd);
        ReleaseBuffer();
    }

    private void ReleaseBuffer()
    {
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }
}

/// <summary>A non-blocking read found nothing yet: wait until the socket is readable, then call again.</summary>
internal sealed class WouldBlockException : Exception
{
    public static readonly WouldBlockException Instance = new();

    private WouldBlockException() : base("no data yet")
    {
    }
}
