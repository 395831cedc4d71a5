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
/// whose reader runs inline: Kestrel parses, runs the app and, when the response is flushed, the output pipe's
/// reader (the send loop, inline too) sends it with a blocking send, all before the thread goes back to recv.
/// A connection ends when the front closes it (recv returns 0), when Kestrel disposes it (completing Kestrel's ends
/// of the pipes ends the send loop, which shuts the socket down and so ends the recv) or on <see cref="Abort"/>.
/// </summary>
internal sealed class FrontSocketConnection : ConnectionContext, IConnectionIdFeature, IConnectionItemsFeature,
    IConnectionLifetimeFeature, IConnectionEndPointFeature, IMemoryPoolFeature, IConnectionSocketFeature
{
    private const int MinimumReadSize = 4096;
    private static readonly bool PollFirst = Environment.GetEnvironmentVariable("GN_POLL") == "1";

    private readonly Socket _socket;
    private readonly IDuplexPipe _application; // our ends: we write what we read into Input, read what to send from Output
    private readonly CancellationTokenSource _closed = new();
    private readonly TaskCompletionSource _received = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _shutdownGate = new();
    private Task _sent = Task.CompletedTask;
    private bool _shutDown;
    private ConnectionAbortedException? _abortReason;

    private FrontSocketConnection(Socket socket, MemoryPool<byte> pool, SocketTransportOptions options, string id)
    {
        _socket = socket;
        MemoryPool = pool;
        ConnectionId = id;
        var input = new Pipe(new PipeOptions(pool, PipeScheduler.Inline, PipeScheduler.Inline,
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

    public static FrontSocketConnection Start(Socket socket, MemoryPool<byte> pool, SocketTransportOptions options, string id)
    {
        var connection = new FrontSocketConnection(socket, pool, options, id);
        connection._sent = connection.SendLoopAsync();
        new Thread(connection.ReceiveLoop) { IsBackground = true, Name = "gn-" + id }.Start();
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

    private void ReceiveLoop()
    {
        var writer = _application.Output;
        Exception? error = null;
        try
        {
            while (true)
            {
                var memory = writer.GetMemory(MinimumReadSize);
                if (PollFirst) { _socket.Poll(-1, SelectMode.SelectRead); }
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
                // Kestrel (and the app, up to its first await that waits) runs here, inline.
                var flush = writer.FlushAsync();
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
        writer.Complete(_abortReason ?? error);
        // As Kestrel's socket transport: the connection is closed for the app once no more can be read.
        ThreadPool.UnsafeQueueUserWorkItem(static closed => CancelQuietly(closed), _closed, preferLocal: false);
        _received.TrySetResult();
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
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            error = new ConnectionResetException(e.Message, e);
        }
        reader.Complete(error);
        Shutdown(); // ends the receive loop's recv
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
        var left = _socket.Send(segments);
        if (left < buffer.Length)
        {
            Send(buffer.Slice(left));
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
        lock (_shutdownGate)
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
        // Kestrel is done with the connection: completing its ends of the pipes ends the send loop (after what is
        // left is sent) and a receive loop waiting for Kestrel to read.
        Transport.Input.Complete();
        Transport.Output.Complete();
        await _sent;
        Shutdown();
        await _received.Task;
        _socket.Dispose();
        _closed.Dispose();
    }

    private static void CancelQuietly(CancellationTokenSource source)
    {
        try
        {
            source.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}
