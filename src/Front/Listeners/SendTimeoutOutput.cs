using System.IO.Pipelines;
using Gunicorn.Front.Limits;
using Microsoft.AspNetCore.Connections;

namespace Gunicorn.Front.Listeners;

/// <summary>
/// nginx's <c>send_timeout</c> for everything a connection sends: a flush that the client does not let through
/// within the timeout (it stopped reading, and the socket's buffers and the connection's output pipe are full)
/// closes the connection. Every response path goes through here: proxied responses, buffered or streamed, static
/// files on the copying path (TLS, <c>sendfile: false</c>), HTTP/2 and upgraded connections (sendfile(2) bodies,
/// which never pass a pipe, are timed by <see cref="SendStallTimer"/>). Kestrel's own check is a minimum data rate
/// that lets a stalled reader hold a connection for minutes (240 B/s allowed for every byte queued). As with nginx
/// the timeout runs between two writes that get through, not over a whole response: a flush that completes at once,
/// the common case, arms no timer. What is still queued when the connection's HTTP ends (up to the pipe's 64 KiB
/// that a flush leaves at once) is sent by the transport's own loop, which nothing else times: it too must leave
/// within the timeout, or the connection is closed (<see cref="LimitDrain"/>).
/// </summary>
public sealed class SendTimeoutOutput : PipeWriter
{
    private readonly PipeWriter _inner;
    private readonly PendingLimit _flushes;

    private SendTimeoutOutput(PipeWriter inner, ConnectionContext connection, TimeSpan timeout)
    {
        _inner = inner;
        _flushes = new PendingLimit(timeout, () => CloseSlowReader(connection, timeout));
    }

    private static void CloseSlowReader(ConnectionContext connection, TimeSpan timeout)
    {
        Gunicorn.Shared.Logging.ErrorLog.Info(
            $"Client {connection.RemoteEndPoint} read a response too slowly; closed after send_timeout ({timeout.TotalSeconds:0.#} s)");
        connection.Abort(new ConnectionAbortedException("The client took no bytes for send_timeout."));
    }

    /// <summary>
    /// Closes the connection if the transport has not sent what is left and closed within <paramref name="timeout"/>
    /// of the end of its HTTP: a client that stopped reading would otherwise hold it (descriptor, buffers, the
    /// generation's count of connections) for as long as it keeps its window shut.
    /// </summary>
    private static void LimitDrain(ConnectionContext connection, TimeSpan timeout)
    {
        var closed = connection.ConnectionClosed;
        if (closed.IsCancellationRequested)
        {
            return;
        }
        var timer = DetachedTimer.Create(static state =>
        {
            var (connection, timeout) = ((ConnectionContext, TimeSpan))state!;
            if (!connection.ConnectionClosed.IsCancellationRequested)
            {
                CloseSlowReader(connection, timeout);
            }
        }, (connection, timeout), timeout, Timeout.InfiniteTimeSpan);
        closed.Register(static state => ((ITimer)state!).Dispose(), timer);
    }

    /// <summary>The connection middleware: times the connection's output for the rest of the pipeline.</summary>
    public static async Task InvokeAsync(ConnectionContext connection, ConnectionDelegate next, TimeSpan timeout)
    {
        var transport = connection.Transport;
        var output = new SendTimeoutOutput(transport.Output, connection, timeout);
        connection.Transport = new Transport(transport.Input, output);
        try
        {
            await next(connection);
        }
        finally
        {
            output._flushes.Dispose();
            connection.Transport = transport;
            LimitDrain(connection, timeout);
        }
    }

    private sealed record Transport(PipeReader Input, PipeWriter Output) : IDuplexPipe;

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) =>
        _flushes.Time(_inner.FlushAsync(cancellationToken));

    public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default) =>
        _flushes.Time(_inner.WriteAsync(source, cancellationToken));

    public override void Advance(int bytes) => _inner.Advance(bytes);

    public override Memory<byte> GetMemory(int sizeHint = 0) => _inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => _inner.GetSpan(sizeHint);

    public override void CancelPendingFlush() => _inner.CancelPendingFlush();

    public override void Complete(Exception? exception = null) => _inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => _inner.CompleteAsync(exception);

    public override bool CanGetUnflushedBytes => _inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => _inner.UnflushedBytes;
}
