using System.Buffers.Text;
using System.Globalization;

namespace Gunicorn.Worker.Http;

/// <summary>
/// The body of the current request on a connection, read as the app asks: Content-Length or chunked framing (chunk
/// extensions and trailers skipped; WSGI has no place for them). What the app does not read is drained after the
/// response, or the connection is closed; never is it mistaken for the next request.
/// </summary>
internal sealed class RequestBody(Http1Connection connection)
{
    /// <summary>Unread bytes of a Content-Length body, or of the current chunk.</summary>
    private long _remaining;
    private bool _chunked;
    private bool _finished;

    /// <summary>The whole body has been read (or there is none).</summary>
    public bool Finished => _finished;

    /// <summary>Bytes still to come on a Content-Length body; -1 for chunked (unknown).</summary>
    public long Remaining => _chunked ? -1 : _remaining;

    public void Begin(Http1Request request)
    {
        _chunked = request.Chunked;
        _remaining = request.Chunked ? 0 : Math.Max(0, request.ContentLength);
        _finished = !request.Chunked && _remaining == 0;
        _inChunk = _chunkEndDue = _inTrailers = false;
    }

    private bool _inChunk;

    // Where a chunked body stands between chunks. Kept as state, not as a position in a loop, so that a non-blocking
    // read that finds nothing yet (WouldBlockException, from any Fill) resumes exactly where it stopped.
    private bool _chunkEndDue;
    private bool _inTrailers;

    /// <summary>Reads up to <paramref name="destination"/>'s length; 0 at the end of the body.</summary>
    /// <exception cref="BadRequestException">The body is malformed or the connection closed inside it.</exception>
    public int Read(Span<byte> destination)
    {
        if (_finished || destination.IsEmpty)
        {
            return 0;
        }
        if (_chunkEndDue)
        {
            ExpectLine(isEmpty: true);
            _chunkEndDue = false;
        }
        if (_chunked && !_inChunk && !StartChunk())
        {
            return 0;
        }
        var wanted = (int)Math.Min(destination.Length, _remaining);
        var buffered = connection.Buffered;
        int read;
        if (buffered.IsEmpty)
        {
            // Nothing buffered: receive straight into the destination (a large body is not copied twice). At most
            // what is left of this body or chunk, so the next chunk's framing or request never lands here.
            read = connection.ReceiveDirect(destination[..wanted]);
            if (read == 0)
            {
                throw new BodyCutShortException("connection closed inside a request body");
            }
        }
        else
        {
            read = Math.Min(wanted, buffered.Length);
            buffered[..read].CopyTo(destination);
            connection.Consume(read);
        }
        _remaining -= read;
        if (_remaining == 0)
        {
            if (_chunked)
            {
                // The chunk's CRLF is read with the next read (at once when it is buffered already).
                _inChunk = false;
                _chunkEndDue = true;
                if (connection.Buffered.StartsWith("\r\n"u8))
                {
                    connection.Consume(2);
                    _chunkEndDue = false;
                }
            }
            else
            {
                _finished = true;
            }
        }
        return read;
    }

    /// <summary>Reads up to and including the next LF, at most <paramref name="limit"/> bytes (negative: no limit).</summary>
    public byte[] ReadLine(int limit)
    {
        using var line = new MemoryStream();
        Span<byte> one = stackalloc byte[1];
        while (limit < 0 || line.Length < limit)
        {
            // Look for the LF in what is buffered of the current chunk or body before falling back to byte reads.
            if (!_finished && (!_chunked || _inChunk) && !connection.Buffered.IsEmpty)
            {
                var available = connection.Buffered[..(int)Math.Min(connection.Buffered.Length, _remaining)];
                if (limit >= 0)
                {
                    available = available[..(int)Math.Min(available.Length, limit - line.Length)];
                }
                var newline = available.IndexOf((byte)'\n');
                var take = newline >= 0 ? newline + 1 : available.Length;
                var chunk = new byte[take];
                Read(chunk);
                line.Write(chunk);
                if (newline >= 0)
                {
                    break;
                }
                continue;
            }
            if (Read(one) == 0)
            {
                break;
            }
            line.WriteByte(one[0]);
            if (one[0] == '\n')
            {
                break;
            }
        }
        return line.ToArray();
    }

    /// <summary>
    /// Reads and discards what the app left unread, up to <paramref name="limit"/> bytes; false when more is left (the
    /// connection must then close rather than misread the rest as the next request).
    /// </summary>
    public bool Drain(long limit)
    {
        if (_finished)
        {
            return true;
        }
        if (!_chunked && _remaining > limit)
        {
            return false;
        }
        Span<byte> scratch = stackalloc byte[4096];
        var drained = 0L;
        while (!_finished)
        {
            var read = Read(scratch);
            if (read == 0)
            {
                break;
            }
            drained += read;
            if (drained > limit)
            {
                return false;
            }
        }
        return _finished;
    }

    /// <summary>Reads a chunk-size line; false (and finished, trailers skipped) at the last chunk.</summary>
    private bool StartChunk()
    {
        if (_inTrailers)
        {
            SkipTrailers();
            return false;
        }
        var line = ReadFramingLine();
        var extension = line.IndexOf((byte)';');
        var hex = (extension < 0 ? line : line[..extension]).Trim(" \t"u8);
        if (hex.IsEmpty || hex.Length > 15 || !Utf8Parser.TryParse(hex, out long size, out var consumed, 'x') || consumed != hex.Length)
        {
            throw new BadRequestException($"invalid chunk size \"{System.Text.Encoding.Latin1.GetString(hex)}\"");
        }
        if (size == 0)
        {
            _inTrailers = true;
            SkipTrailers();
            return false;
        }
        _remaining = size;
        _inChunk = true;
        return true;
    }

    private void SkipTrailers()
    {
        while (ReadFramingLine().Length > 0)
        {
            // trailer fields: WSGI has no place for them
        }
        _inTrailers = false;
        _finished = true;
    }

    private void ExpectLine(bool isEmpty)
    {
        if (ReadFramingLine().Length != 0 && isEmpty)
        {
            throw new BadRequestException("chunk data longer than its size");
        }
    }

    /// <summary>The next CRLF-terminated framing line, without the CRLF (valid until the next read).</summary>
    private ReadOnlySpan<byte> ReadFramingLine()
    {
        int length;
        while ((length = connection.Buffered.IndexOf("\r\n"u8)) < 0)
        {
            if (connection.Buffered.Length > 64 * 1024)
            {
                throw new BadRequestException("chunk framing line longer than 64 KiB");
            }
            if (!connection.Fill())
            {
                throw new BodyCutShortException("connection closed inside a chunked body");
            }
        }
        var line = connection.Buffered[..length];
        connection.Consume(length + 2);
        return line;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{(_chunked ? "chunked" : "length")} remaining {_remaining}");
}
