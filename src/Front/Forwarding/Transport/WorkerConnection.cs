using System.Buffers;
using System.Net.Sockets;
using System.Text;

namespace Gunicorn.Front.Forwarding.Transport;

/// <summary>
/// One kept-alive HTTP/1.1 connection to a worker's Unix socket: a read buffer the response head is parsed from, and a
/// write buffer the request head (and a small body) is composed in, so a request usually leaves in one send and its
/// response arrives in one receive. Used by one request at a time; pooled per worker by <see cref="WorkerHttpHandler"/>.
/// </summary>
internal sealed class WorkerConnection : IDisposable
{
    private const int ReadBufferBytes = 8 * 1024;
    private const int WriteBufferBytes = 4 * 1024;

    /// <summary>A body is sent once this much of it is buffered; smaller bodies leave with the head in one send.</summary>
    internal const int SendThreshold = 16 * 1024;

    private readonly Socket _socket;
    private byte[] _read = ArrayPool<byte>.Shared.Rent(ReadBufferBytes);
    private int _readStart, _readEnd;
    private byte[] _write = ArrayPool<byte>.Shared.Rent(WriteBufferBytes);
    private int _written;
    private bool _disposed;

    public WorkerConnection(Socket socket, WorkerPool pool)
    {
        _socket = socket;
        Pool = pool;
    }

    public WorkerPool Pool { get; }

    /// <summary>The worker's recent header values, reused while they do not change.</summary>
    public HeaderValueCache HeaderValues { get; } = new();

    /// <summary>When the connection last went back to the pool (Environment.TickCount64), for the idle sweep.</summary>
    public long IdleSince { get; set; }

    /// <summary>Whether the connection served a request before this one (a closed idle connection is then no surprise).</summary>
    public bool Reused { get; set; }

    /// <summary>Whether any byte of the current request's answer has arrived.</summary>
    public bool Answered { get; private set; }

    /// <summary>The bytes read past what has been consumed.</summary>
    public ReadOnlySpan<byte> Buffered => _read.AsSpan(_readStart, _readEnd - _readStart);

    public void Consume(int count) => _readStart += count;

    /// <summary>
    /// Whether an idle connection can carry a request: nothing may be readable on it. Readable means the worker closed
    /// it (it exited, or recycled) or sent bytes nobody asked for; either way it is not reused.
    /// </summary>
    public bool IsIdleAndOpen()
    {
        try
        {
            return !_socket.Poll(0, SelectMode.SelectRead);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>Whether bytes (or the end of stream) are waiting to be read now, without waiting for them.</summary>
    public bool HasInputWaiting()
    {
        try
        {
            return _readEnd > _readStart || _socket.Poll(0, SelectMode.SelectRead);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    // ---- writing -------------------------------------------------------------------------------------------------

    public void Append(ReadOnlySpan<byte> bytes)
    {
        Reserve(bytes.Length);
        bytes.CopyTo(_write.AsSpan(_written));
        _written += bytes.Length;
    }

    /// <summary>Appends a header value or request target as Latin-1, the bytes the front received (obs-text passes).</summary>
    public void AppendLatin1(ReadOnlySpan<char> text)
    {
        Reserve(text.Length);
        _written += Encoding.Latin1.GetBytes(text, _write.AsSpan(_written));
    }

    public void AppendNumber(long value, string format = "D")
    {
        Reserve(20);
        value.TryFormat(_write.AsSpan(_written), out var used, format, System.Globalization.CultureInfo.InvariantCulture);
        _written += used;
    }

    public int PendingWrite => _written;

    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (_written == 0)
        {
            return;
        }
        var count = _written;
        _written = 0;
        await _socket.SendAsync(_write.AsMemory(0, count), SocketFlags.None, cancellationToken);
    }

    /// <summary>Sends what is buffered and then <paramref name="bytes"/> as they are (a large body block, not copied).</summary>
    public async ValueTask SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        await FlushAsync(cancellationToken);
        await _socket.SendAsync(bytes, SocketFlags.None, cancellationToken);
    }

    private void Reserve(int count)
    {
        if (_written + count <= _write.Length)
        {
            return;
        }
        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_write.Length * 2, _written + count));
        _write.AsSpan(0, _written).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(_write);
        _write = larger;
    }

    // ---- reading -------------------------------------------------------------------------------------------------

    /// <summary>
    /// Room at the end of the buffer for the next receive (compacting it first, growing it up to
    /// <paramref name="limit"/> when full); empty when the buffer is full at the limit.
    /// </summary>
    public Memory<byte> FreeSpace(int limit)
    {
        if (_readStart > 0)
        {
            _read.AsSpan(_readStart, _readEnd - _readStart).CopyTo(_read);
            _readEnd -= _readStart;
            _readStart = 0;
        }
        if (_readEnd == _read.Length)
        {
            if (_read.Length >= limit)
            {
                return Memory<byte>.Empty;
            }
            var larger = ArrayPool<byte>.Shared.Rent(Math.Min(limit, _read.Length * 2));
            _read.AsSpan(0, _readEnd).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_read);
            _read = larger;
        }
        return _read.AsMemory(_readEnd);
    }

    /// <summary>Receives into <paramref name="space"/> (from <see cref="FreeSpace"/>); <see cref="Advance"/> then counts it.</summary>
    public ValueTask<int> ReceiveAsync(Memory<byte> space, CancellationToken cancellationToken) =>
        _socket.ReceiveAsync(space, SocketFlags.None, cancellationToken);

    public void Advance(int received)
    {
        _readEnd += received;
        Answered |= received > 0;
    }

    /// <summary>Reads more bytes into the buffer. Returns how many arrived: 0 is end of stream, -1 a full buffer at the limit.</summary>
    public async ValueTask<int> FillAsync(int limit, CancellationToken cancellationToken)
    {
        var space = FreeSpace(limit);
        if (space.IsEmpty)
        {
            return -1;
        }
        var received = await ReceiveAsync(space, cancellationToken);
        Advance(received);
        return received;
    }

    /// <summary>Reads body bytes: what is buffered first, then straight from the socket into the caller's memory.</summary>
    public ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (_readEnd > _readStart)
        {
            var count = Math.Min(destination.Length, _readEnd - _readStart);
            _read.AsSpan(_readStart, count).CopyTo(destination.Span);
            _readStart += count;
            return ValueTask.FromResult(count);
        }
        return _socket.ReceiveAsync(destination, SocketFlags.None, cancellationToken);
    }

    public ValueTask WriteRawAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken) =>
        _socket.SendAsync(bytes, SocketFlags.None, cancellationToken) is var send && send.IsCompletedSuccessfully
            ? ValueTask.CompletedTask
            : AwaitSend(send);

    private static async ValueTask AwaitSend(ValueTask<int> send) => await send;

    /// <summary>Ends the sending direction (an upgraded stream's client finished): the worker reads end of stream.</summary>
    public void ShutdownSend()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Clears per-request state before the connection goes back to the pool.</summary>
    public void ResetForReuse()
    {
        _readStart = _readEnd = 0;
        _written = 0;
        Answered = false;
        Reused = true;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _socket.Dispose();
        // The buffers may still be referenced by an operation the disposal just aborted: let the GC have them rather
        // than return them to the pool where another connection could write into them.
        _read = [];
        _write = [];
        _readStart = _readEnd = _written = 0;
    }
}
