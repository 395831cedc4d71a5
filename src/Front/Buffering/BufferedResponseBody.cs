namespace Gunicorn.Front.Buffering;

/// <summary>
/// Response buffering: stands in for the response body while a worker answers, taking the response at local speed
/// (memory, then a temporary file) so the worker is free at once; the front then sends it to the client at the
/// client's pace. A worker response with <c>X-Accel-Buffering: no</c> switches to streaming (server-sent events).
/// </summary>
public sealed class BufferedResponseBody(Stream client, long memoryLimit, TimeSpan sendTimeout) : WriteOnlyStream
{
    private SpillingBuffer? _buffer; // made at the first byte: a bodiless response allocates none
    private bool _streaming;

    public Stream Client { get; } = client;

    /// <summary>True once any byte was taken: a failed forward can no longer be retried.</summary>
    public bool HasContent => (_buffer?.Length ?? 0) > 0 || _streaming;

    /// <summary>From now on, writes go straight to the client (what was buffered goes first).</summary>
    public async Task StreamFromNowOnAsync(CancellationToken cancellationToken)
    {
        await SendBufferedAsync(cancellationToken);
        _streaming = true;
    }

    /// <summary>
    /// Sends what was buffered to the client, at the client's pace, but never slower than send_timeout per write:
    /// a client that stops reading is cut off (nginx's send_timeout; Kestrel's data rate check misses such readers).
    /// </summary>
    /// <exception cref="TimeoutException">The client took longer than send_timeout to accept one write.</exception>
    public async Task SendBufferedAsync(CancellationToken cancellationToken)
    {
        if (_buffer is not { Length: > 0 } buffer || _streaming)
        {
            return;
        }
        if (buffer.InMemory is { Length: > 0 and <= SpillingBuffer.ChunkSize } whole)
        {
            // The common case, a small response: one write, which the client's connection usually takes at once (no
            // timer then); one it does not take within send_timeout is a stalled client.
            var write = Client.WriteAsync(whole, cancellationToken);
            if (!write.IsCompletedSuccessfully)
            {
                await write.AsTask().WaitAsync(sendTimeout, cancellationToken);
            }
            return;
        }
        await SendInChunksAsync(buffer, cancellationToken);
    }

    /// <summary>A large or spilled response, piece by piece (a method of its own: its closure is not made for small ones).</summary>
    private async Task SendInChunksAsync(SpillingBuffer buffer, CancellationToken cancellationToken)
    {
        // The timer alone tells a stalled client from an aborted request (either cancels the write).
        using var stalled = new CancellationTokenSource();
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stalled.Token);
        await buffer.ReadChunksAsync(async chunk =>
        {
            stalled.CancelAfter(sendTimeout);
            try
            {
                await Client.WriteAsync(chunk, either.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException && stalled.IsCancellationRequested)
            {
                throw new TimeoutException("the client did not read within send_timeout", e);
            }
        }, cancellationToken);
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_streaming)
        {
            await Client.WriteAsync(buffer, cancellationToken);
        }
        else
        {
            await (_buffer ??= new SpillingBuffer(memoryLimit)).WriteAsync(buffer, cancellationToken);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) =>
        WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) =>
        _streaming ? Client.FlushAsync(cancellationToken) : Task.CompletedTask;

    public override void Flush()
    {
        if (_streaming)
        {
            Client.Flush();
        }
    }

    public override async ValueTask DisposeAsync()
    {
        if (_buffer is not null)
        {
            await _buffer.DisposeAsync();
        }
        await base.DisposeAsync();
    }
}
