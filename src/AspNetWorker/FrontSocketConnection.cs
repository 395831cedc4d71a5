using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;

namespace Gunicorn.AspNetWorker;

/// <summary>
/// One connection from the front. Its thread blocks in recv and flushes what it read into Kestrel's input pipe,
/// whose reader runs inline on that thread: Kestrel parses, runs the app and, when the response is flushed, the output
/// pipe's reader (the send loop, inline too) sends it with a blocking send, all before the thread goes back to recv.
/// A connection ends when the front closes it (recv returns 0), when Kestrel disposes it (completing Kestrel's ends
/// of the pipes ends the send loop, which shuts the socket down and so ends the recv) or on <see cref="Abort"/>.
/// An app that blocks its request's thread waiting for more of the request (sync-over-async on the body, a
/// WebSocket's receive) would wait for the very thread that reads it: <see cref="ReceiverHandover"/> gives the
/// receiving to a new thread when the app has held the receiver for a while.
/// </summary>
internal sealed class FrontSocketConnection : ConnectionContext, IConnectionIdFeature, IConnectionItemsFeature,
    IConnectionLifetimeFeature, IConnectionEndPointFeature, IMemoryPoolFeature, IConnectionSocketFeature
{
    private const int MinimumReadSize = 4096;

    private readonly Socket _socket;
    private readonly IDuplexPipe _application; // our ends: we write what we read into Input, read what to send from Output
    private readonly CancellationTokenSource _closed = new();
    private readonly TaskCompletionSource _received = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _gate = new();
    private Task _sent = Task.CompletedTask;
    private bool _shutDown;
    private ConnectionAbortedException? _abortReason;
    private int _receiver; // which receiving thread owns the receiving (a handover starts the next)
    private int _receiverThreadId;
    private long _inAppSince; // Environment.TickCount64 when the receiver went into Kestrel and the app; 0 when not

    private FrontSocketConnection(Socket socket, MemoryPool<byte> pool, SocketTransportOptions options, string id, TimeSpan sendTimeout)
    {
        _socket = socket;
        if (sendTimeout > TimeSpan.Zero)
        {
            // A send that makes no progress for the worker's timeout fails and ends the connection (the front stopped
            // reading), instead of holding the sending thread, and Kestrel's lock around the flush, for ever.
            _socket.SendTimeout = (int)Math.Min(sendTimeout.TotalMilliseconds, int.MaxValue);
        }
        MemoryPool = pool;
        ConnectionId = id;
        // Kestrel's reads resume inline only on the receiving thread (the point of this transport); anywhere else
        // (Kestrel's heartbeat cancelling a read on a timeout) on the thread pool, as with Kestrel's own transport.
        var input = new Pipe(new PipeOptions(pool, new ReceiverScheduler(this), PipeScheduler.Inline,
            options.MaxReadBufferSize ?? 0, (options.MaxReadBufferSize ?? 0) / 2, useSynchronizationContext: false));
        var output = new Pipe(new PipeOptions(pool, PipeScheduler.Inline, PipeScheduler.Inline,
            options.MaxWriteBufferSize ?? 0, (options.MaxWriteBufferSize ?? 0) / 2, useSynchronizationContext: false));
        Transport = new DuplexPipe(input.Reader, output.Writer);
        _application = new DuplexPipe(output.Reader, input.Writer);
        Features = new FeatureCollection();
        Features.Set<IConnectionIdFeature>(this);
        Features.Set<IConnectionItemsFeature>(this);
        Features.Set<IConnectionLifetimeFeature>(this);
        Features.Set<IConnectionEndPointFeature>(this);
        Features.Set<IMemoryPoolFeature>(this);
        Features.Set<IConnectionSocketFeature>(this);
        ConnectionClosed = _closed.Token;
        LocalEndPoint = socket.LocalEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint;
    }

    public static FrontSocketConnection Start(Socket socket, MemoryPool<byte> pool, SocketTransportOptions options, string id, TimeSpan sendTimeout)
    {
        var connection = new FrontSocketConnection(socket, pool, options, id, sendTimeout);
        connection._sent = connection.SendLoopAsync();
        connection.StartReceiver(0);
        ReceiverHandover.Watch(connection);
        return connection;
    }

    public override string ConnectionId { get; set; }
    public override IFeatureCollection Features { get; }
    public override IDictionary<object, object?> Items { get; set; } = new ConnectionItems();
    public override IDuplexPipe Transport { get; set; }
    public override CancellationToken ConnectionClosed { get; set; }
    public override EndPoint? LocalEndPoint { get; set; }
    public override EndPoint? RemoteEndPoint { get; set; }
    public MemoryPool<byte> MemoryPool { get; }
    public Socket Socket => _socket;

    private void StartReceiver(int receiver) =>
        new Thread(() => ReceiveLoop(receiver)) { IsBackground = true, Name = "gn-" + ConnectionId }.Start();

    /// <summary>
    /// Called by <see cref="ReceiverHandover"/>: if the receiver has been in the app since before
    /// <paramref name="heldSince"/>, a new thread takes over the receiving; the held one ends when the app lets it go.
    /// </summary>
    public void HandOverIfHeldSince(long heldSince)
    {
        lock (_gate)
        {
            if (_shutDown || _inAppSince == 0 || _inAppSince > heldSince)
            {
                return;
            }
            _inAppSince = 0;
            _receiver++;
            StartReceiver(_receiver);
        }
    }

    private void ReceiveLoop(int receiver)
    {
        _receiverThreadId = Environment.CurrentManagedThreadId;
        var writer = _application.Output;
        Exception? error = null;
        try
        {
            while (true)
            {
                var memory = writer.GetMemory(MinimumReadSize);
                var read = _socket.Receive(memory.Span, SocketFlags.None, out var status);
                if (status != SocketError.Success)
                {
                    error = status is SocketError.ConnectionReset or SocketError.Shutdown or SocketError.OperationAborted
                        ? new ConnectionResetException("The front reset the connection.")
                        : new SocketException((int)status);
                    break;
                }
                if (read == 0)
                {
                    break; // the front closed its end, or we shut the socket down
                }
                writer.Advance(read);
                lock (_gate)
                {
                    _inAppSince = Environment.TickCount64;
                }
                // Kestrel (and the app, up to its first await that waits) runs here, inline.
                var flush = writer.FlushAsync();
                lock (_gate)
                {
                    if (_receiver != receiver)
                    {
                        return; // the app held this thread long enough for another to take over the receiving
                    }
                    _inAppSince = 0;
                }
                var result = flush.IsCompleted ? flush.Result : flush.AsTask().GetAwaiter().GetResult();
                if (result.IsCompleted || result.IsCanceled)
                {
                    break; // Kestrel stopped reading
                }
            }
        }
        catch (ObjectDisposedException)
        {
        }
        catch (Exception e)
        {
            error = e;
        }
        ReceivingEnded(_abortReason ?? error);
    }

    private void ReceivingEnded(Exception? error)
    {
        ReceiverHandover.Forget(this);
        _application.Output.Complete(error);
        // As Kestrel's socket transport: the connection is closed for the app once no more can be read (on the
        // thread pool: the app's callbacks do not run on ours). Disposal waits for it.
        ThreadPool.UnsafeQueueUserWorkItem(static connection =>
        {
            try
            {
                connection._closed.Cancel();
            }
            catch (Exception)
            {
                // A callback of the app's that throws must not take the process down (Kestrel's transport ignores it too).
            }
            connection._received.TrySetResult();
        }, this, preferLocal: false);
    }

    private async Task SendLoopAsync()
    {
        var reader = _application.Input;
        Exception? error = null;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync();
                if (result.IsCanceled)
                {
                    break;
                }
                var buffer = result.Buffer;
                if (!buffer.IsEmpty)
                {
                    Send(buffer);
                }
                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception e)
        {
            error = e is SocketException or ObjectDisposedException ? new ConnectionResetException(e.Message, e) : e;
        }
        finally
        {
            reader.Complete(error);
            Shutdown(); // ends the receive loop's recv
        }
    }

    private void Send(in ReadOnlySequence<byte> buffer)
    {
        if (buffer.IsSingleSegment)
        {
            var span = buffer.FirstSpan;
            while (!span.IsEmpty)
            {
                span = span[_socket.Send(span)..];
            }
            return;
        }
        var segments = new List<ArraySegment<byte>>();
        foreach (var memory in buffer)
        {
            segments.Add(MemoryMarshal.TryGetArray(memory, out var array) ? array : new ArraySegment<byte>(memory.ToArray()));
        }
        var sent = _socket.Send(segments);
        if (sent < buffer.Length)
        {
            Send(buffer.Slice(sent));
        }
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        _abortReason ??= abortReason;
        _application.Input.CancelPendingRead(); // ends the send loop, which shuts the socket down
        _application.Output.CancelPendingFlush(); // ends a receive loop waiting for Kestrel to read
        Shutdown();
    }

    private void Shutdown()
    {
        lock (_gate)
        {
            if (_shutDown)
            {
                return;
            }
            _shutDown = true;
            try
            {
                _socket.Shutdown(SocketShutdown.Both);
            }
            catch (SocketException)
            {
            }
        }
    }

    public override async ValueTask DisposeAsync()
    {
        try
        {
            // Kestrel is done with the connection: completing its ends of the pipes ends the send loop (after what
            // is left is sent) and a receive loop waiting for Kestrel to read.
            Transport.Input.Complete();
            Transport.Output.Complete();
            await _sent;
        }
        finally
        {
            Shutdown();
            await _received.Task;
            _socket.Dispose();
            _closed.Dispose();
        }
    }

    /// <summary>Runs a continuation inline on the connection's receiving thread, elsewhere on the thread pool.</summary>
    private sealed class ReceiverScheduler(FrontSocketConnection connection) : PipeScheduler
    {
        public override void Schedule(Action<object?> action, object? state)
        {
            if (Environment.CurrentManagedThreadId == connection._receiverThreadId)
            {
                action(state);
            }
            else
            {
                System.Threading.ThreadPool.UnsafeQueueUserWorkItem(action, state, preferLocal: false);
            }
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}
