using System.Buffers;

namespace Gunicorn.Front.Listeners;

/// <summary>
/// Follows an HTTP/1.1 request stream byte by byte (heads line by line, bodies skipped by Content-Length or chunk
/// sizes) to find the rules Kestrel cannot enforce after parsing: a Content-Length value must be digits only
/// (Kestrel reads <c>+3</c> as 3 and <c>-0</c> as 0 before any middleware sees the raw value; gunicorn and the
/// issue's strict rules refuse both), and the asterisk form belongs to OPTIONS (<c>GET *</c> is a 400, where
/// Kestrel answers 405). Anything this scanner does not understand (CONNECT, HTTP/2's preface, malformed chunks)
/// ends its watch: Kestrel's own parser refuses what is truly malformed. A head that may upgrade the connection
/// (an <c>Upgrade</c> header, or <c>upgrade</c> in <c>Connection</c>) pauses it: its caller learns from the response
/// whether the connection switched protocols or goes on with HTTP/1 (<see cref="UpgradeDecided"/>),
/// so that a refused upgrade does not leave the requests after it unwatched.
/// </summary>
public sealed class Http1HeadScanner
{
    private enum State { Head, Trailers, Body, ChunkSize, ChunkExtension, ChunkData, ChunkDataEnd, AwaitingUpgrade, Stopped }

    /// <summary>Lines are kept up to this many bytes: enough for any sane Content-Length or Connection line.</summary>
    private const int LineKept = 256;

    private readonly byte[] _line = new byte[LineKept];
    private int _lineLength;
    private State _state = State.Head;
    private long _offset;
    private long _headStart;
    private bool _requestLineSeen;
    private bool _chunked;
    private bool _opaqueAfterHead;
    private bool _mayUpgrade;
    private long _remaining;

    /// <summary>The stream offset where the head with a bad Content-Length starts, once one is seen.</summary>
    public long? ViolationAt { get; private set; }

    public string? Violation { get; private set; }

    /// <summary>True once nothing more needs to be read: a violation was found, or the stream is no longer HTTP/1.</summary>
    public bool Stopped => _state == State.Stopped;

    /// <summary>True after a head that may upgrade the connection, until the caller says whether it did.</summary>
    public bool AwaitingUpgrade => _state == State.AwaitingUpgrade;

    /// <summary>The stream offset of the next byte to scan.</summary>
    public long Offset => _offset;

    /// <summary>
    /// The response to the head that may upgrade has started: after a 101 what follows is not HTTP/1; otherwise the
    /// bytes after the head are the next request's.
    /// </summary>
    public void UpgradeDecided(bool upgraded) => _state = upgraded ? State.Stopped : NextHead(_offset);

    /// <summary>Reads the next bytes of the stream, in order.</summary>
    public void Scan(ReadOnlySequence<byte> bytes)
    {
        foreach (var memory in bytes)
        {
            var span = memory.Span;
            var i = 0;
            while (i < span.Length && _state is not (State.Stopped or State.AwaitingUpgrade))
            {
                if (_state is State.Body or State.ChunkData)
                {
                    var skip = (int)Math.Min(_remaining, span.Length - i);
                    i += skip;
                    _offset += skip;
                    _remaining -= skip;
                    if (_remaining == 0)
                    {
                        _state = _state == State.Body ? NextHead(_offset) : State.ChunkDataEnd;
                    }
                    continue;
                }
                if (_state is State.Head or State.Trailers)
                {
                    // A line at a time: the search for its end is vectorized, and only its start is kept.
                    var rest = span[i..];
                    var newline = rest.IndexOf((byte)'\n');
                    var text = newline < 0 ? rest : rest[..newline];
                    if (_lineLength < LineKept)
                    {
                        var keep = Math.Min(text.Length, LineKept - _lineLength);
                        text[..keep].CopyTo(_line.AsSpan(_lineLength));
                    }
                    _lineLength += text.Length;
                    i += text.Length;
                    _offset += text.Length;
                    if (newline < 0)
                    {
                        continue;
                    }
                }
                Step(span[i]);
                i++;
                _offset++;
            }
        }
    }

    private void Step(byte b)
    {
        switch (_state)
        {
            case State.Head or State.Trailers:
                EndLine(); // b is the line's LF: the line itself was gathered by Scan
                break;
            case State.ChunkSize:
                ChunkSizeByte(b);
                break;
            case State.ChunkExtension when b == (byte)'\n':
                EndChunkSize();
                break;
            case State.ChunkDataEnd when b == (byte)'\n':
                _state = State.ChunkSize;
                break;
        }
    }

    private void ChunkSizeByte(byte b)
    {
        var digit = HexDigit(b);
        if (digit >= 0 && _remaining < long.MaxValue / 16)
        {
            _remaining = _remaining * 16 + digit;
        }
        else if (b == (byte)'\n')
        {
            EndChunkSize();
        }
        else if (b is (byte)';' or (byte)' ' or (byte)'\t')
        {
            _state = State.ChunkExtension;
        }
        else if (b != (byte)'\r')
        {
            _state = State.Stopped; // not a chunk size: Kestrel refuses it
        }
    }

    private void EndChunkSize()
    {
        if (_remaining == 0)
        {
            _state = State.Trailers;
        }
        else
        {
            _state = State.ChunkData;
        }
    }

    private void EndLine()
    {
        var kept = _line.AsSpan(0, Math.Min(_lineLength, LineKept));
        var overflowed = _lineLength > LineKept;
        if (kept.EndsWith("\r"u8))
        {
            kept = kept[..^1];
        }
        _lineLength = 0;
        if (_state == State.Trailers)
        {
            if (kept.IsEmpty && !overflowed)
            {
                _state = NextHead(_offset + 1);
            }
            return;
        }
        if (!_requestLineSeen)
        {
            // Kestrel skips any CR and LF before a request line.
            kept = kept.Trim((byte)'\r');
            if (kept.IsEmpty && !overflowed)
            {
                _headStart = _offset + 1; // an empty line before a request line is tolerated
                return;
            }
            _requestLineSeen = true;
            if (kept.StartsWith("PRI * HTTP/2.0"u8))
            {
                _state = State.Stopped; // HTTP/2 with prior knowledge: not ours to follow
                return;
            }
            _opaqueAfterHead = kept.StartsWith("CONNECT "u8);
            if (IsAsteriskFormMisused(kept))
            {
                // RFC 9112 3.2.4: the asterisk form is only for a server-wide OPTIONS. Kestrel would answer 405 (as if
                // the method were the fault); gunicorn answers 400, as for any malformed request line.
                ViolationAt = _headStart;
                Violation = "The request target '*' is only valid with OPTIONS (RFC 9112 section 3.2.4)";
                _state = State.Stopped;
            }
            return;
        }
        if (kept.IsEmpty && !overflowed)
        {
            EndHead();
            return;
        }
        HeaderLine(kept, overflowed);
    }

    private static bool IsAsteriskFormMisused(ReadOnlySpan<byte> requestLine)
    {
        var space = requestLine.IndexOf((byte)' ');
        // Any case: casefold_http_method makes "options" OPTIONS; without it, the method check refuses it anyway.
        return space > 0 && requestLine[(space + 1)..].StartsWith("* "u8) && !System.Text.Ascii.EqualsIgnoreCase(requestLine[..space], "OPTIONS"u8);
    }

    private void HeaderLine(ReadOnlySpan<byte> line, bool overflowed)
    {
        var colon = line.IndexOf((byte)':');
        if (colon < 0)
        {
            return;
        }
        var name = line[..colon];
        var value = line[(colon + 1)..].Trim(" \t"u8);
        if (System.Text.Ascii.EqualsIgnoreCase(name, "Content-Length"u8))
        {
            if (overflowed || value.IsEmpty || value.ContainsAnyExceptInRange((byte)'0', (byte)'9'))
            {
                ViolationAt = _headStart;
                Violation = $"Content-Length must be digits only, got '{System.Text.Encoding.Latin1.GetString(value)}'";
                _state = State.Stopped;
                return;
            }
            _remaining = long.TryParse(value, out var length) ? length : 0;
        }
        else if (System.Text.Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8))
        {
            _chunked = true; // anything but exactly "chunked" is refused with the connection closed
        }
        else if (System.Text.Ascii.EqualsIgnoreCase(name, "Upgrade"u8)
            || (System.Text.Ascii.EqualsIgnoreCase(name, "Connection"u8) && (overflowed || ContainsIgnoreCase(value, "upgrade"u8))))
        {
            _mayUpgrade = true; // what Kestrel then does is told by the response, not guessed here
        }
    }

    private static bool ContainsIgnoreCase(ReadOnlySpan<byte> value, ReadOnlySpan<byte> word)
    {
        for (var i = 0; i + word.Length <= value.Length; i++)
        {
            if (System.Text.Ascii.EqualsIgnoreCase(value.Slice(i, word.Length), word))
            {
                return true;
            }
        }
        return false;
    }

    private void EndHead()
    {
        if (_opaqueAfterHead)
        {
            _state = State.Stopped;
        }
        else if (_mayUpgrade && !_chunked && _remaining == 0)
        {
            // Scan steps past the head's last LF and stops there: Offset is then the first byte after the head.
            _state = State.AwaitingUpgrade;
        }
        else if (_chunked)
        {
            _remaining = 0;
            _state = State.ChunkSize;
        }
        else if (_remaining > 0)
        {
            _state = State.Body;
        }
        else
        {
            _state = NextHead(_offset + 1);
        }
    }

    /// <summary>The next request's head starts at <paramref name="headStart"/>.</summary>
    private State NextHead(long headStart)
    {
        _headStart = headStart;
        _requestLineSeen = false;
        _chunked = false;
        _opaqueAfterHead = false;
        _mayUpgrade = false;
        _remaining = 0;
        return State.Head;
    }

    private static int HexDigit(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };
}
