using Gunicorn.Front.Limits;

namespace Gunicorn.Front.Buffering;

/// <summary>
/// nginx's <c>client_body_timeout</c> for a request body streamed to the worker (<c>request_buffering: false</c>,
/// <c>unbuffered_paths</c>): the longest pause between two reads. Buffered bodies are timed as they are read
/// (<see cref="RequestBuffer"/>); a streamed one is read by the forwarder at the worker's pace, and Kestrel's own check
/// is an average rate over the whole body, which a client that sent a little and stopped passes for hours while a
/// worker waits for the rest. A read that finds data at once arms no timer; a pause past the limit closes the
/// connection (the worker's request ends with it, and the worker is free).
/// </summary>
public sealed class StreamedBodyPauseLimit : Stream
{
    private readonly Stream body;
    private readonly PendingLimit _reads;

    /// <summary>Disposed with the request's forwarding (which ends every read it started).</summary>
    public StreamedBodyPauseLimit(Stream body, HttpContext context, TimeSpan limit)
    {
        this.body = body;
        // Read now: the timer runs on another thread, when Kestrel may be resetting the context for the next request.
        var client = context.Connection.RemoteIpAddress;
        var method = context.Request.Method;
        var path = context.Request.Path;
        var request = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestLifetimeFeature>();
        _reads = new PendingLimit(limit, () =>
        {
            Gunicorn.Shared.Logging.ErrorLog.Info(
                $"Client {client} sent no body bytes of {method} {path} for client_body_timeout ({limit.TotalSeconds:0.#} s); closed");
            request?.Abort(); // as HttpContext.Abort: the connection (HTTP/1.1) or the stream (HTTP/2)
        });
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _reads.Time(body.ReadAsync(buffer, cancellationToken));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => body.Read(buffer, offset, count);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _reads.Dispose();
        }
        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync()
    {
        _reads.Dispose();
        return base.DisposeAsync();
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
