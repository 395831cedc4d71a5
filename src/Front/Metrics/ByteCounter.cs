using Microsoft.AspNetCore.Http.Features;

namespace Gunicorn.Front.Metrics;

/// <summary>Streams that pass bodies through and count their bytes.</summary>
public static class ByteCounter
{
    /// <summary>A request body, counted as it is read.</summary>
    public sealed class Reading(Stream inner) : Stream
    {
        public long Count { get; private set; }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Counted(inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Counted(await inner.ReadAsync(buffer, cancellationToken));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private int Counted(int read)
        {
            Count += read;
            return read;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>A response body, counted as it is written.</summary>
    public sealed class Writing(Stream inner) : Buffering.WriteOnlyStream
    {
        public long Count { get; private set; }

        /// <summary>Bytes that reached the client without this stream (a file sent beneath it).</summary>
        public void Add(long bytes) => Count += bytes;

        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override void Write(byte[] buffer, int offset, int count)
        {
            inner.Write(buffer, offset, count);
            Count += count;
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await inner.WriteAsync(buffer, cancellationToken);
            Count += buffer.Length;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    /// <summary>
    /// The response body feature that counts through <paramref name="counted"/>: what <c>Response.Body = counted</c>
    /// would install, except that a file sent with SendFileAsync goes on to the body beneath (sendfile(2) where the
    /// connection has it) and is counted here, instead of being copied through the counting stream.
    /// </summary>
    public sealed class CountedBody(Writing counted, IHttpResponseBodyFeature prior) : StreamResponseBodyFeature(counted, prior)
    {
        /// <summary>Counts every response body of <paramref name="context"/> from here on; returns the count.</summary>
        public static Writing Install(HttpContext context)
        {
            var prior = context.Features.Get<IHttpResponseBodyFeature>()!;
            var counted = new Writing(prior.Stream);
            context.Features.Set<IHttpResponseBodyFeature>(new CountedBody(counted, prior));
            return counted;
        }

        public override async Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken)
        {
            await StartAsync(cancellationToken);
            await PriorFeature!.SendFileAsync(path, offset, count, cancellationToken);
            counted.Add(count ?? new FileInfo(path).Length - offset);
        }
    }
}
