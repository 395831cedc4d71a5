using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace Gunicorn.Front.Listeners;

/// <summary>
/// Refuses a request whose Content-Length is not digits only (<c>+3</c>, <c>-0</c>) with 400, before Kestrel parses
/// it into a number. It sits between the transport (after TLS) and Kestrel's HTTP/1 parser, reading the same bytes
/// through <see cref="Http1HeadScanner"/>; requests pipelined before the bad one are served first.
/// </summary>
public static class ContentLengthGuard
{
    public static async Task InvokeAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        if (connection.Features.Get<ITlsApplicationProtocolFeature>()?.ApplicationProtocol.Span.SequenceEqual("h2"u8) == true)
        {
            await next(connection); // HTTP/2 frames its bodies itself
            return;
        }
        var transport = connection.Transport;
        var upgrade = new UpgradeOutcome();
        connection.Features.Set(upgrade);
        connection.Transport = new GuardedTransport(new GuardedReader(transport.Input, upgrade), transport.Output);
        try
        {
            await next(connection);
        }
        finally
        {
            connection.Transport = transport;
        }
    }

    private sealed record GuardedTransport(PipeReader Input, PipeWriter Output) : IDuplexPipe;

    /// <summary>Hands Kestrel the stream's bytes up to a bad request's head, then fails the read that reaches it.</summary>
    /// <remarks>
    /// It is also the awaitable of its own reads: a keep-alive connection waits here for every request, and a pipe has
    /// one read outstanding at most, so one reused source per connection replaces a state machine per wait.
    /// </remarks>
    private sealed class GuardedReader : PipeReader, System.Threading.Tasks.Sources.IValueTaskSource<ReadResult>
    {
        private readonly PipeReader inner;
        private readonly Http1HeadScanner _scanner = new();
        private readonly UpgradeOutcome _upgrade;
        private readonly Action _innerCompleted;
        private ReadOnlySequence<byte> _handedOut;
        private long _start;
        private long _scanned;
        // Continuations run inline (RunContinuationsAsynchronously is false), as an awaiting state machine's would.
        private System.Threading.Tasks.Sources.ManualResetValueTaskSourceCore<ReadResult> _read;
        private System.Runtime.CompilerServices.ConfiguredValueTaskAwaitable<ReadResult>.ConfiguredValueTaskAwaiter _pending;

        public GuardedReader(PipeReader inner, UpgradeOutcome upgrade)
        {
            this.inner = inner;
            _upgrade = upgrade;
            _innerCompleted = InnerReadCompleted;
        }

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            var pending = inner.ReadAsync(cancellationToken);
            if (pending.IsCompletedSuccessfully)
            {
                return new ValueTask<ReadResult>(Inspect(pending.Result));
            }
            _read.Reset();
            _pending = pending.ConfigureAwait(false).GetAwaiter();
            _pending.UnsafeOnCompleted(_innerCompleted);
            return new ValueTask<ReadResult>(this, _read.Version);
        }

        private void InnerReadCompleted()
        {
            var pending = _pending;
            _pending = default;
            ReadResult result;
            try
            {
                result = Inspect(pending.GetResult());
            }
            catch (Exception e)
            {
                _read.SetException(e);
                return;
            }
            _read.SetResult(result);
        }

        ReadResult System.Threading.Tasks.Sources.IValueTaskSource<ReadResult>.GetResult(short token) => _read.GetResult(token);

        System.Threading.Tasks.Sources.ValueTaskSourceStatus System.Threading.Tasks.Sources.IValueTaskSource<ReadResult>.GetStatus(short token) =>
            _read.GetStatus(token);

        void System.Threading.Tasks.Sources.IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token,
            System.Threading.Tasks.Sources.ValueTaskSourceOnCompletedFlags flags) => _read.OnCompleted(continuation, state, token, flags);

        public override bool TryRead(out ReadResult result)
        {
            if (!inner.TryRead(out var read))
            {
                result = default;
                return false;
            }
            result = Inspect(read);
            return true;
        }

        private ReadResult Inspect(ReadResult read)
        {
            var buffer = read.Buffer;
            _handedOut = buffer;
            var end = _start + buffer.Length;
            if (_scanner.AwaitingUpgrade && _upgrade.TakeDecision() is { } upgraded)
            {
                // The response to the head that could upgrade has started: Kestrel reads on for the upgraded stream
                // (101), or for the next request, which the scanner must see before Kestrel parses it.
                _scanner.UpgradeDecided(upgraded);
            }
            if (!_scanner.Stopped && !_scanner.AwaitingUpgrade && _scanned < end)
            {
                _scanner.Scan(buffer.Slice(_scanned - _start));
                _scanned = _scanner.Offset;
                if (_scanner.AwaitingUpgrade)
                {
                    _upgrade.Wait();
                }
            }
            if (_scanner.ViolationAt is not { } at)
            {
                return read;
            }
            if (at <= _start)
            {
                // Kestrel answers this as it answers its own parse errors: 400 and the connection closed.
                throw new Microsoft.AspNetCore.Http.BadHttpRequestException(_scanner.Violation!, StatusCodes.Status400BadRequest);
            }
            _handedOut = buffer.Slice(0, Math.Min(at - _start, buffer.Length));
            return new ReadResult(_handedOut, read.IsCanceled, isCompleted: false);
        }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            _start += _handedOut.Slice(_handedOut.Start, consumed).Length;
            inner.AdvanceTo(consumed, examined);
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
    }
}
