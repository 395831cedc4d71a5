using System.Buffers;

namespace Gunicorn.Front.Buffering;

/// <summary>
/// A write-then-read buffer that keeps up to a threshold in memory and spills the rest to a temporary file, deleted
/// when disposed (nginx's client_body_buffer_size and proxy_buffers, with temp files behind them).
/// </summary>
/// <param name="directory">Where to spill (tmp_upload_dir); null: the system's temporary directory.</param>
public sealed class SpillingBuffer(long memoryLimit, string? directory = null) : IAsyncDisposable
{
    /// <summary>The first pooled array's size: a typical small response or form fits it without growing.</summary>
    private const int FirstArraySize = 4096;

    // In memory: a pooled array (returned when disposed), grown by renting a larger one; a MemoryStream would
    // allocate and regrow its own array for every response buffered.
    private byte[]? _memory;
    private int _memoryLength;
    private FileStream? _file;
    private MemoryStream? _reader;

    /// <summary>What stays in memory: the limit, or the largest array for a limit set above it (then the rest spills).</summary>
    private readonly long _inMemoryLimit = Math.Min(memoryLimit, Array.MaxLength);

    public long Length => _file?.Length ?? _memoryLength;

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (_file is null && (long)_memoryLength + data.Length > _inMemoryLimit)
        {
            // Unlinked as soon as it is open: the data lives while the descriptor does, and nothing is left in the
            // temporary directory however the request ends, even when the master is killed (SIGKILL, OOM).
            var path = Path.Combine(directory ?? Path.GetTempPath(), $"gunicorn-net-buffer-{Guid.NewGuid():N}");
            // No FileStream buffer (writes come in 64 KiB pieces already): a full disk fails the write that hits it.
            _file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, bufferSize: 0, FileOptions.Asynchronous);
            File.Delete(path);
            if (_memoryLength > 0)
            {
                await _file.WriteAsync(_memory.AsMemory(0, _memoryLength), cancellationToken);
            }
            ReturnMemory();
        }
        if (_file is not null)
        {
            await _file.WriteAsync(data, cancellationToken);
        }
        else
        {
            Reserve(data.Length);
            data.Span.CopyTo(_memory.AsSpan(_memoryLength));
            _memoryLength += data.Length;
        }
    }

    /// <summary>Room for <paramref name="more"/> bytes in memory (under the in-memory limit, checked by the caller).</summary>
    private void Reserve(int more)
    {
        var needed = _memoryLength + more;
        if (_memory is not null && needed <= _memory.Length)
        {
            return;
        }
        var size = Math.Max(needed, _memory is null ? FirstArraySize : 2L * _memory.Length);
        var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min(size, Math.Max(needed, _inMemoryLimit)));
        _memory.AsSpan(0, _memoryLength).CopyTo(larger);
        ReturnMemory();
        _memory = larger;
    }

    private void ReturnMemory()
    {
        if (_memory is { } array)
        {
            _memory = null;
            ArrayPool<byte>.Shared.Return(array);
        }
    }

    /// <summary>Everything written, when it is all still in memory (not spilled); empty otherwise.</summary>
    public ReadOnlyMemory<byte> InMemory => _file is null && _memory is { } memory ? memory.AsMemory(0, _memoryLength) : default;

    /// <summary>A stream over everything written, from the start (valid until the buffer is disposed).</summary>
    public Stream OpenRead()
    {
        if (_file is null)
        {
            // Disposed with the buffer: a late reader gets ObjectDisposedException, never a pooled array's new owner's bytes.
            return _reader = new MemoryStream(_memory ?? [], 0, _memoryLength, writable: false);
        }
        _file.Position = 0;
        return _file;
    }

    /// <summary>The size of the pieces <see cref="ReadChunksAsync"/> hands out.</summary>
    public const int ChunkSize = 64 * 1024;

    /// <summary>
    /// Hands everything written, from the start, to <paramref name="consume"/> in pieces of at most
    /// <see cref="ChunkSize"/> bytes: straight out of memory, or through one pooled buffer from the file.
    /// </summary>
    public async Task ReadChunksAsync(Func<ReadOnlyMemory<byte>, Task> consume, CancellationToken cancellationToken)
    {
        if (_file is null)
        {
            var written = InMemory;
            for (var offset = 0; offset < written.Length; offset += ChunkSize)
            {
                await consume(written.Slice(offset, Math.Min(ChunkSize, written.Length - offset)));
            }
            return;
        }
        var chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            _file!.Position = 0;
            int read;
            while ((read = await _file.ReadAsync(chunk.AsMemory(0, ChunkSize), cancellationToken)) > 0)
            {
                await consume(chunk.AsMemory(0, read));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_file is not null)
        {
            await _file.DisposeAsync();
        }
        _reader?.Dispose();
        ReturnMemory();
        _memoryLength = 0;
    }
}
