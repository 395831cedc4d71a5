namespace Gunicorn.Front.Forwarding.Transport;

/// <summary>
/// Where the forwarder copies a request body: appended behind the head in the connection's write buffer (a small body
/// leaves with the head in one send), framed as chunks when its length is unknown, and checked against its
/// Content-Length when known (a body that runs short or long would desynchronise the connection).
/// </summary>
internal sealed class RequestBodyStream(WorkerConnection connection, RequestHeadWriter.Framing framing) : Gunicorn.Front.Buffering.WriteOnlyStream
{
    private long _sent;

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return;
        }
        _sent += buffer.Length;
        if (!framing.Chunked && _sent > framing.Length)
        {
            throw new IOException($"The request body is longer than its Content-Length ({framing.Length}).");
        }
        if (framing.Chunked)
        {
            connection.AppendNumber(buffer.Length, "X");
            connection.Append("\r\n"u8);
        }
        if (connection.PendingWrite + buffer.Length <= WorkerConnection.SendThreshold)
        {
            connection.Append(buffer.Span);
        }
        else
        {
            await connection.SendAsync(buffer, cancellationToken);
        }
        if (framing.Chunked)
        {
            connection.Append("\r\n"u8);
        }
    }

    /// <summary>
    /// The forwarder flushes to stream a body as it arrives (an unbuffered upload): what is buffered goes out. (Its
    /// first flush, before any body byte, sends the head alone; ignoring it held a streamed upload's first chunks back.)
    /// </summary>
    public override Task FlushAsync(CancellationToken cancellationToken) => connection.FlushAsync(cancellationToken).AsTask();

    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

    public override void Write(byte[] buffer, int offset, int count) =>
        WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Ends the body: the last chunk, or a check that all of Content-Length came; then everything is sent.</summary>
    public async ValueTask CompleteAsync(CancellationToken cancellationToken)
    {
        if (framing.Chunked)
        {
            connection.Append("0\r\n\r\n"u8);
        }
        else if (_sent != framing.Length)
        {
            throw new IOException($"The request body ended after {_sent} of its {framing.Length} bytes (Content-Length).");
        }
        await connection.FlushAsync(cancellationToken);
    }
}
