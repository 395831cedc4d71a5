using System.Net;

namespace Gunicorn.Front.Forwarding.Transport;

/// <summary>A worker's response body as <see cref="HttpContent"/>: the forwarder reads <see cref="Body"/> as a stream.</summary>
internal sealed class WorkerResponseContent : HttpContent
{
    /// <summary>Set once the head is parsed (the content's headers are filled while parsing it).</summary>
    public Stream Body { get; set; } = Stream.Null;

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => Body.CopyToAsync(stream);

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
        Body.CopyToAsync(stream, cancellationToken);

    protected override Stream CreateContentReadStream(CancellationToken cancellationToken) => Body;

    protected override Task<Stream> CreateContentReadStreamAsync() => Task.FromResult(Body);

    protected override Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) => Task.FromResult(Body);

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Body.Dispose();
        }
        base.Dispose(disposing);
    }
}
