namespace Gunicorn.Front.Buffering;

/// <summary>
/// Response buffering: stands in for the response body while a worker answers, taking the response at local speed
/// (memory, then a temporary file) so the worker is free at once; the front then sends it to the client at the
/// client's pace. A worker response with <c>X-Accel-Buffering: no</c> switches to streaming (server-sent events).
/// </summary>
public sealed class BufferedResponseBody(Stream client, long memoryLimit) : WriteOnlyStream
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
    /// Sends what was buffered to the client, at the client's pace. A client that stops reading is cut off by the
    /// connection's send_timeout (<see cref="Listeners.SendTimeoutOutput"/>), which ends these writes.
    /// </summary>
    public async Task SendBufferedAsync(CancellationToken cancellationToken)
    {
        if (_buffer is not { Length: > 0 } buffer || _streaming)
        {
            return;
        }
        if (buffer.InMemory is { Length: > 0 and <= SpillingBuffer.ChunkSize } whole)
        {
            await Client.WriteAsync(whole, cancellationToken); // the common case, a small response: one write
            return;
        }
        await buffer.ReadChunksAsync(chunk => Client.WriteAsync(chunk, cancellationToken).AsTask(), cancellationToken);
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
