using System.Diagnostics;

namespace Gunicorn.Front.AccessLog;

/// <summary>First in the front's pipeline: times each request, counts the body bytes sent, logs when it is done.</summary>
public sealed class AccessLogMiddleware(RequestDelegate next, AccessLogFormatter formatter, AccessLogWriter writer)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var started = DateTimeOffset.Now;
        var timestamp = Stopwatch.GetTimestamp();
        var original = context.Response.Body;
        var counting = new CountingStream(original);
        context.Response.Body = counting;
        try
        {
            await next(context);
        }
        finally
        {
            context.Response.Body = original;
            writer.Write(formatter.Format(new AccessLogEntry(context, started, timestamp, counting.BytesWritten)));
        }
    }

    /// <summary>Passes writes through and counts them (gunicorn's resp.sent).</summary>
    private sealed class CountingStream(Stream inner) : Buffering.WriteOnlyStream
    {
        public long BytesWritten { get; private set; }

        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override void Write(byte[] buffer, int offset, int count)
        {
            inner.Write(buffer, offset, count);
            BytesWritten += count;
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await inner.WriteAsync(buffer, cancellationToken);
            BytesWritten += buffer.Length;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }
}
