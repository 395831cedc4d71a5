using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Win32.SafeHandles;

namespace Gunicorn.Front.Listeners;

/// <summary>
/// nginx's <c>sendfile on</c> for the front's plaintext listeners. Kestrel's socket transport sends what the HTTP
/// layer writes from a loop of its own and cannot put a file range on the socket between two of those writes: its
/// loop says nothing of when the response head has left, and Kestrel refuses to end a response whose body it did not
/// write (dotnet/aspnetcore#18093). So, on a connection that may carry a static file, this connection middleware
/// sends the output itself: Kestrel writes into a pipe that <see cref="SendLoopAsync"/> drains to the socket as
/// Kestrel's loop would, and <see cref="SendFileAsync"/> runs in that loop after the head, with sendfile(2) (.NET's
/// <see cref="SocketSyscalls.SendFile"/> first, which sends a file that fits in the socket's buffer in one call; .NET's
/// <c>SendPacketsAsync</c> for what the client has not made room for yet). The body bytes Kestrel is then told it wrote (so its Content-Length
/// check and the access log's count hold) are dropped here instead of being copied: no file byte enters user space.
/// </summary>
public sealed class SendfileOutput : PipeWriter
{
    /// <summary>nginx's <c>sendfile_max_chunk</c> (2m): one sendfile call's share, so one connection's large file does not hold the loop.</summary>
    public const int ChunkBytes = 2 * 1024 * 1024;

    /// <summary>Where the dropped bytes "go": never read, so one buffer serves every connection.</summary>
    private static readonly byte[] Discarded = new byte[256 * 1024];

    private static long s_bytesSent;

    /// <summary>File bytes this process has sent with sendfile(2), for <c>ctl status</c> (and the test that proves the path).</summary>
    public static long BytesSent => Interlocked.Read(ref s_bytesSent);

    private readonly Socket _socket;
    private readonly ConnectionContext _connection;
    private readonly TimeSpan _sendTimeout;
    private readonly Pipe _pipe = new(new PipeOptions(
        readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: 64 * 1024, resumeWriterThreshold: 32 * 1024, useSynchronizationContext: false));
    private readonly List<ArraySegment<byte>> _segments = [];
    private FileSend? _file;
    private ChunkCompletion? _chunks;
    private SendStallTimer? _stalled;
    private long _discarding;
    // Set by the request's thread and the send loop, which may run on another: exchanged, so that of LetGo and the
    // loop's held send, one always sees the other's write (see HeldHeadSent).
    private int _headBeforeFile;
    private int _headHeld;
    private int _loopEnded;
    private int _direct; // 0: not known yet, 1: the socket takes the non-blocking syscalls, -1: it does not

    private SendfileOutput(Socket socket, ConnectionContext connection, TimeSpan sendTimeout)
    {
        _socket = socket;
        _connection = connection;
        _sendTimeout = sendTimeout;
    }

    /// <summary>
    /// The connection middleware: installs the loop on a connection with a socket, runs HTTP over it. A client that
    /// takes no file bytes for <paramref name="sendTimeout"/> (<c>send_timeout</c>) is disconnected.
    /// </summary>
    public static async Task InvokeAsync(ConnectionContext connection, ConnectionDelegate next, TimeSpan sendTimeout)
    {
        if (connection.Features.Get<IConnectionSocketFeature>()?.Socket is not { } socket)
        {
            await next(connection);
            return;
        }
        var transport = connection.Transport;
        var output = new SendfileOutput(socket, connection, sendTimeout);
        connection.Transport = new Transport(transport.Input, output);
        connection.Features.Set(output);
        var sending = output.SendLoopAsync();
        try
        {
            await next(connection);
        }
        finally
        {
            output.Complete();
            // Everything written is on the socket before Kestrel's own transport shuts its sending side.
            await sending;
            output._chunks?.Args.Dispose();
            output._stalled?.Dispose();
            connection.Transport = transport;
        }
    }

    private sealed record Transport(PipeReader Input, PipeWriter Output) : IDuplexPipe;

    /// <summary>
    /// Sends <paramref name="count"/> bytes of <paramref name="file"/> from <paramref name="offset"/> after everything
    /// already flushed (the response head); returns the bytes sent, fewer when the file shrank. The caller then
    /// reports the same count to Kestrel through the response's writer (see <see cref="DiscardNext"/>).
    /// </summary>
    public Task<long> SendFileAsync(SafeFileHandle file, long offset, long count)
    {
        var send = new FileSend(file, offset, count);
        Interlocked.Exchange(ref _file, send);
        if (Volatile.Read(ref _loopEnded) == 1)
        {
            // The loop failed (the client left) before this file: no one would send it, or answer.
            Interlocked.Exchange(ref _file, null)?.Done.TrySetResult(0);
            return send.Done.Task;
        }
        // Wakes the loop (or makes its next read return at once); it sends what is buffered, then the file.
        _pipe.Reader.CancelPendingRead();
        return send.Done.Task;
    }

    /// <summary>
    /// Holds what is sent next in the kernel until the file that follows is on the socket (<c>MSG_MORE</c>, nginx's
    /// <c>tcp_nopush</c>): the head leaves in the file's first full segment instead of a packet of its own. The file's
    /// last bytes push it; <see cref="LetGo"/> does when the file is not sent after all.
    /// </summary>
    public void HoldUntilFileSent() => Interlocked.Exchange(ref _headBeforeFile, 1);

    public void LetGo()
    {
        Interlocked.Exchange(ref _headBeforeFile, 0);
        if (Interlocked.Exchange(ref _headHeld, 0) == 1)
        {
            PushHeldHead();
        }
    }

    /// <summary>
    /// The loop sent the head with <c>MSG_MORE</c>. Should <see cref="LetGo"/> have run meanwhile (the request gave
    /// up on the file from its own thread), it saw nothing held: then the loop pushes the head itself.
    /// </summary>
    private void HeldHeadSent()
    {
        Interlocked.Exchange(ref _headHeld, 1);
        if (Volatile.Read(ref _headBeforeFile) == 0 && Interlocked.Exchange(ref _headHeld, 0) == 1)
        {
            PushHeldHead();
        }
    }

    private void PushHeldHead()
    {
        try
        {
            // Setting TCP_NODELAY (again: Kestrel sets it) pushes what the kernel holds.
            _socket.NoDelay = true;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // A connection that is gone has nothing left to push.
        }
    }

    /// <summary>Whether this connection's socket takes <see cref="SocketSyscalls"/>' sends; asked once per connection.</summary>
    private bool CanSendDirectly()
    {
        if (_direct == 0)
        {
            _direct = _socket.ProtocolType == ProtocolType.Tcp && SocketSyscalls.IsNonBlocking(_socket) ? 1 : -1;
        }
        return _direct == 1;
    }

    /// <summary>The next <paramref name="count"/> bytes written are the file's body, already sent: drop them.</summary>
    public void DiscardNext(long count) => _discarding = count;

    /// <summary>Ends the dropping; false when the writes did not add up to the count (the connection must close).</summary>
    public bool EndDiscard()
    {
        var exact = _discarding == 0;
        _discarding = 0;
        return exact;
    }

    private async Task SendLoopAsync()
    {
        var reader = _pipe.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync();
                var buffer = result.Buffer;
                if (!buffer.IsEmpty)
                {
                    await SendAsync(buffer);
                }
                reader.AdvanceTo(buffer.End);
                // A cancelled read is SendFileAsync's wake-up; its buffer held everything flushed before it.
                if (result.IsCanceled && Interlocked.Exchange(ref _file, null) is { } file)
                {
                    var sent = 0L;
                    try
                    {
                        sent = await SendFileChunksAsync(file);
                    }
                    finally
                    {
                        LetGo();
                        file.Done.TrySetResult(sent);
                    }
                }
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception e)
        {
            // The client went away (or a file could not be sent): the connection ends; Kestrel learns it from the
            // abort and from its next flush (IsCompleted), and a waiting SendFileAsync from its result.
            _connection.Abort(new ConnectionAbortedException("The connection's output failed: " + e.Message, e));
        }
        finally
        {
            // A file asked for now or later is answered at once (SendFileAsync checks the flag after its own write).
            Interlocked.Exchange(ref _loopEnded, 1);
            Interlocked.Exchange(ref _file, null)?.Done.TrySetResult(0);
            reader.Complete();
        }
    }

    private ValueTask SendAsync(ReadOnlySequence<byte> buffer)
    {
        if (Volatile.Read(ref _headBeforeFile) == 1 && buffer.IsSingleSegment && CanSendDirectly())
        {
            var taken = SocketSyscalls.SendMore(_socket, buffer.FirstSpan);
            if (taken == buffer.Length)
            {
                HeldHeadSent();
                return ValueTask.CompletedTask;
            }
            // What the kernel did not take (or could not: .NET's send then reports the error) goes the usual way,
            // which also pushes what it took.
            buffer = buffer.Slice(Math.Max(taken, 0));
        }
        if (buffer.IsSingleSegment)
        {
            var sending = _socket.SendAsync(buffer.First, SocketFlags.None);
            return sending.IsCompletedSuccessfully ? ValueTask.CompletedTask : new ValueTask(sending.AsTask());
        }
        _segments.Clear();
        foreach (var segment in buffer)
        {
            _segments.Add(MemoryMarshal.TryGetArray(segment, out var array) ? array : new ArraySegment<byte>(segment.ToArray()));
        }
        return new ValueTask(_socket.SendAsync(_segments, SocketFlags.None));
    }

    private async Task<long> SendFileChunksAsync(FileSend file)
    {
        long sent = 0;
        if (CanSendDirectly())
        {
            // A file that fits in the socket's buffer leaves in this one call, and the send loop goes on at once.
            var taken = SocketSyscalls.SendFile(_socket, file.Handle, file.Offset, Math.Min(ChunkBytes, file.Count));
            if (taken == SocketSyscalls.Failed || taken == 0)
            {
                return 0; // the client left, or the file ends before the range: the caller closes the connection
            }
            if (taken > 0)
            {
                sent = taken;
                Interlocked.Add(ref s_bytesSent, taken);
                if (sent == file.Count)
                {
                    Interlocked.Exchange(ref _headHeld, 0); // the file's last bytes pushed it
                    return sent;
                }
            }
        }
        // The rest waits for the client to make room: .NET's SendPacketsAsync, with a FileStream over the handle.
        await using var stream = new FileStream(file.Handle, FileAccess.Read, bufferSize: 0, isAsync: true);
        // One of each per connection, made at its first file that needs them.
        var stalled = _stalled ??= new SendStallTimer(_socket, _sendTimeout, OnStall);
        var chunkSent = _chunks ??= new ChunkCompletion(new SocketAsyncEventArgs());
        var args = chunkSent.Args;
        try
        {
            while (sent < file.Count)
            {
                var chunk = (int)Math.Min(ChunkBytes, file.Count - sent);
                args.SendPacketsElements = [new SendPacketsElement(stream, file.Offset + sent, chunk, endOfPacket: false)];
                stalled.Arm();
                var done = await chunkSent.RunAsync(_socket);
                // Fewer bytes than asked: the client left, or the file shrank (sendfile(2) stops at its end). The
                // caller closes the connection rather than end a body short of its Content-Length.
                if (done != chunk)
                {
                    sent += Math.Max(done, 0);
                    break;
                }
                sent += done;
                Interlocked.Add(ref s_bytesSent, done);
            }
        }
        finally
        {
            stalled.Disarm();
        }
        if (sent == file.Count)
        {
            Interlocked.Exchange(ref _headHeld, 0);
        }
        return sent;
    }

    private void OnStall()
    {
        // The buffered responses' wording (ForwardingHandler), so one grep finds both.
        Gunicorn.Shared.Logging.ErrorLog.Info(
            $"Client {_connection.RemoteEndPoint} read a file too slowly; closed after send_timeout ({_sendTimeout.TotalSeconds:0.#} s)");
        _connection.Abort(new ConnectionAbortedException("The client took no file bytes for send_timeout."));
    }

    /// <summary>One SendPacketsAsync at a time on a reused SocketAsyncEventArgs; the result is the bytes sent, or -1.</summary>
    private sealed class ChunkCompletion
    {
        private readonly SocketAsyncEventArgs _args;
        private TaskCompletionSource<int>? _pending;

        public ChunkCompletion(SocketAsyncEventArgs args)
        {
            _args = args;
            args.Completed += (_, a) => _pending!.TrySetResult(Result(a));
        }

        public SocketAsyncEventArgs Args => _args;

        public Task<int> RunAsync(Socket socket)
        {
            // The send loop goes on where the kernel's completion arrives: no hop for it.
            _pending = new TaskCompletionSource<int>();
            return socket.SendPacketsAsync(_args) ? _pending.Task : Task.FromResult(Result(_args));
        }

        private static int Result(SocketAsyncEventArgs a) => a.SocketError == SocketError.Success ? a.BytesTransferred : -1;
    }

    /// <remarks>
    /// <see cref="Done"/> runs its continuation inline, in the send loop: the response ends and the connection reads
    /// its next request on the thread the file's last bytes completed on, with no hop to the thread pool (a wake-up
    /// and a context switch per file otherwise). The loop holds nothing across it: a response written from there goes
    /// into the pipe and is sent once the loop reads again, a file sent from there wakes the loop's next read.
    /// </remarks>
    private sealed record FileSend(SafeFileHandle Handle, long Offset, long Count)
    {
        public TaskCompletionSource<long> Done { get; } = new();
    }

    // The PipeWriter Kestrel writes the connection's output into.

    public override Memory<byte> GetMemory(int sizeHint = 0) =>
        _discarding > 0 ? DiscardBuffer(sizeHint) : _pipe.Writer.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) =>
        _discarding > 0 ? DiscardBuffer(sizeHint).Span : _pipe.Writer.GetSpan(sizeHint);

    private static Memory<byte> DiscardBuffer(int sizeHint) => sizeHint <= Discarded.Length ? Discarded : new byte[sizeHint];

    public override void Advance(int bytes)
    {
        if (_discarding > 0)
        {
            _discarding -= bytes; // below zero when more was written: EndDiscard reports it
            return;
        }
        _pipe.Writer.Advance(bytes);
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => _pipe.Writer.FlushAsync(cancellationToken);

    public override void CancelPendingFlush() => _pipe.Writer.CancelPendingFlush();

    public override void Complete(Exception? exception = null) => _pipe.Writer.Complete(exception);

    public override bool CanGetUnflushedBytes => _pipe.Writer.CanGetUnflushedBytes;

    public override long UnflushedBytes => _pipe.Writer.UnflushedBytes;
}
