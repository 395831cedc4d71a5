using System.Buffers.Text;

namespace Gunicorn.Front.Forwarding.Transport;

/// <summary>
/// A worker's response body as the forwarder reads it, framed as its head said: a Content-Length, chunks (trailers go
/// to the response's trailing headers), or up to the worker's close. When the body ends cleanly the connection goes
/// back to the pool (if the head allowed keep-alive); when it is abandoned or breaks, the connection is closed. A 101
/// response's body is the upgraded connection itself, read and written both ways (a WebSocket's bytes).
/// </summary>
internal sealed class ResponseBodyStream : Stream
{
    private const int MaxChunkLineBytes = 4 * 1024;

    private readonly WorkerHttpHandler _handler;
    private readonly HttpResponseMessage _response;
    private readonly BodyFraming _framing;
    private readonly bool _keepAlive;
    private WorkerConnection? _connection;
    private long _remaining; // of the Content-Length, or of the current chunk
    private bool _inChunk;

    public ResponseBodyStream(WorkerHttpHandler handler, WorkerConnection connection, HttpResponseMessage response, ResponseHead head)
    {
        _handler = handler;
        _connection = connection;
        _response = response;
        _framing = head.Framing;
        _keepAlive = head.KeepAlive;
        _remaining = head.ContentLength;
    }

    public override bool CanRead => true;
    public override bool CanWrite => _framing == BodyFraming.Upgraded;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_connection is not { } connection || buffer.IsEmpty)
        {
            return 0;
        }
        try
        {
            return _framing switch
            {
                BodyFraming.ContentLength => await ReadLengthAsync(connection, buffer, cancellationToken),
                BodyFraming.Chunked => await ReadChunkedAsync(connection, buffer, cancellationToken),
                _ => await ReadToCloseAsync(connection, buffer, cancellationToken),
            };
        }
        catch (Exception e) when (e is not WorkerProtocolException)
        {
            Abandon();
            throw;
        }
        catch (WorkerProtocolException e)
        {
            _handler.LogProtocolError(connection.Pool, e);
            Abandon();
            throw;
        }
    }

    private async ValueTask<int> ReadLengthAsync(WorkerConnection connection, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var wanted = (int)Math.Min(buffer.Length, _remaining);
        var read = await connection.ReadAsync(buffer[..wanted], cancellationToken);
        if (read == 0)
        {
            throw new IOException($"The worker closed the connection with {_remaining} bytes of its Content-Length still to come.");
        }
        _remaining -= read;
        if (_remaining == 0)
        {
            if (!connection.Buffered.IsEmpty)
            {
                throw new WorkerProtocolException($"more body than its Content-Length ({ResponseHeadParser.Describe(connection.Buffered)} after it)");
            }
            Finish();
        }
        return read;
    }

    private async ValueTask<int> ReadChunkedAsync(WorkerConnection connection, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!_inChunk)
        {
            var newline = await FindLineAsync(connection, cancellationToken);
            var size = ParseChunkSize(connection.Buffered[..newline]);
            connection.Consume(newline + 1);
            if (size == 0)
            {
                await ReadTrailersAsync(connection, cancellationToken);
                Finish();
                return 0;
            }
            _remaining = size;
            _inChunk = true;
        }
        var read = await connection.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _remaining)], cancellationToken);
        if (read == 0)
        {
            throw new IOException("The worker closed the connection in the middle of a chunk.");
        }
        _remaining -= read;
        if (_remaining == 0)
        {
            // The CRLF after the chunk's data.
            while (connection.Buffered.Length < 2 && !(connection.Buffered is [(byte)'\n', ..]))
            {
                await FillOrFailAsync(connection, cancellationToken);
            }
            var end = connection.Buffered;
            if (end[0] == '\n')
            {
                connection.Consume(1);
            }
            else if (end[0] == '\r' && end[1] == '\n')
            {
                connection.Consume(2);
            }
            else
            {
                throw new WorkerProtocolException($"chunk data longer than its size ({ResponseHeadParser.Describe(end)})");
            }
            _inChunk = false;
        }
        return read;
    }

    /// <summary>Where the next line ends in the buffer (the index of its '\n'), reading more until it is there.</summary>
    private static async ValueTask<int> FindLineAsync(WorkerConnection connection, CancellationToken cancellationToken)
    {
        while (true)
        {
            var newline = connection.Buffered.IndexOf((byte)'\n');
            if (newline >= 0)
            {
                return newline;
            }
            if (connection.Buffered.Length > MaxChunkLineBytes)
            {
                throw new WorkerProtocolException("a chunk-size line longer than 4 KiB");
            }
            await FillOrFailAsync(connection, cancellationToken);
        }
    }

    /// <summary>A chunk-size line: hex digits, optional extensions after ';' (ignored), then CRLF.</summary>
    private static long ParseChunkSize(ReadOnlySpan<byte> line) => TryParseChunkSize(line, out var size) ? size
        : throw new WorkerProtocolException($"a bad chunk size ({ResponseHeadParser.Describe(line is [.., (byte)'\r'] ? line[..^1] : line)})");

    private static bool TryParseChunkSize(ReadOnlySpan<byte> line, out long size)
    {
        var text = line is [.., (byte)'\r'] ? line[..^1] : line;
        var semicolon = text.IndexOf((byte)';');
        var digits = (semicolon >= 0 ? text[..semicolon] : text).Trim(" \t"u8);
        size = 0;
        return !digits.IsEmpty && digits.Length <= 15 && Utf8Parser.TryParse(digits, out size, out var used, 'X') && used == digits.Length;
    }

    /// <summary>
    /// The length of a chunked body that is already whole in <paramref name="buffered"/> (its last chunk and no
    /// trailers, nothing after it), or -1. The forwarder then answers with a Content-Length instead of re-chunking:
    /// the client's response leaves in one send rather than two (the data, then the last chunk when the response
    /// completes), as for an ASP.NET Core app's small responses, which Kestrel chunks. Anything unusual is left to
    /// the chunked reader, which reports it.
    /// </summary>
    public static long WholeChunkedLength(ReadOnlySpan<byte> buffered)
    {
        long total = 0;
        while (true)
        {
            var newline = buffered.IndexOf((byte)'\n');
            if (newline < 0 || !TryParseChunkSize(buffered[..newline], out var size))
            {
                return -1;
            }
            buffered = buffered[(newline + 1)..];
            if (size == 0)
            {
                return buffered is [(byte)'\r', (byte)'\n'] || buffered is [(byte)'\n'] ? total : -1;
            }
            if (size > buffered.Length - 2)
            {
                return -1;
            }
            var after = buffered[(int)size..];
            var crlf = after is [(byte)'\r', (byte)'\n', ..] ? 2 : after is [(byte)'\n', ..] ? 1 : 0;
            if (crlf == 0)
            {
                return -1;
            }
            total += size;
            buffered = after[crlf..];
        }
    }

    private async ValueTask ReadTrailersAsync(WorkerConnection connection, CancellationToken cancellationToken)
    {
        while (true)
        {
            var buffered = connection.Buffered;
            var end = buffered is [(byte)'\n', ..] ? 1
                : buffered is [(byte)'\r', (byte)'\n', ..] ? 2
                : ResponseHeadParser.FindEnd(buffered);
            if (end > 0)
            {
                ResponseHeadParser.ParseTrailers(buffered[..end], _response);
                connection.Consume(end);
                return;
            }
            if (buffered.Length > ResponseHeadParser.MaxHeadBytes)
            {
                throw new WorkerProtocolException("trailers larger than 64 KiB");
            }
            await FillOrFailAsync(connection, cancellationToken);
        }
    }

    private static async ValueTask FillOrFailAsync(WorkerConnection connection, CancellationToken cancellationToken)
    {
        var read = await connection.FillAsync(ResponseHeadParser.MaxHeadBytes, cancellationToken);
        if (read == 0)
        {
            throw new IOException("The worker closed the connection in the middle of a chunked body.");
        }
        if (read < 0)
        {
            throw new WorkerProtocolException("a chunked body's framing larger than 64 KiB");
        }
    }

    private async ValueTask<int> ReadToCloseAsync(WorkerConnection connection, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var read = await connection.ReadAsync(buffer, cancellationToken);
        if (read == 0)
        {
            Abandon(); // the worker's close ended the body: the connection is done
        }
        return read;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_framing != BodyFraming.Upgraded)
        {
            throw new NotSupportedException();
        }
        return _connection is { } connection ? connection.WriteRawAsync(buffer, cancellationToken) : throw new ObjectDisposedException(nameof(ResponseBodyStream));
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The body ended as framed: the connection is free for the next request, or closed if it must be.</summary>
    private void Finish()
    {
        var connection = _connection!;
        _connection = null;
        if (_keepAlive && connection.Buffered.IsEmpty)
        {
            _handler.Return(connection);
        }
        else
        {
            connection.Dispose();
        }
    }

    private void Abandon()
    {
        _connection?.Dispose();
        _connection = null;
    }

    protected override void Dispose(bool disposing)
    {
        // A body not read to its end leaves the connection mid-response: it cannot carry another request.
        Abandon();
        base.Dispose(disposing);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
