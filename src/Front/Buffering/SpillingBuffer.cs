using System.Buffers;

namespace Gunicorn.Front.Buffering;

/// <summary>
/// A write-then-read buffer that keeps up to a threshold in memory and spills the rest to a temporary file, deleted
/// when disposed (nginx's client_body_buffer_size and proxy_buffers, with temp files behind them).
/// </summary>
/// <param name="directory">Where to spill (tmp_upload_dir); null: the system's temporary directory.</param>
public sealed class SpillingBuffer(long memoryLimit, string? directory = null) : IAsyncDisposable
{
    private MemoryStream? _memory = new();
    private FileStream? _file;

    public long Length => _file?.Length ?? _memory!.Length;

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (_file is null && _memory!.Length + data.Length > memoryLimit)
        {
            // Unlinked as soon as it is open: the data lives while the descriptor does, and nothing is left in the
            // temporary directory however the request ends, even when the master is killed (SIGKILL, OOM).
            var path = Path.Combine(directory ?? Path.GetTempPath(), $"gunicorn-net-buffer-{Guid.NewGuid():N}");
            // No FileStream buffer (writes come in 64 KiB pieces already): a full disk fails the write that hits it.
            _file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, bufferSize: 0, FileOptions.Asynchronous);
            File.Delete(path);
            _memory.Position = 0;
            await _memory.CopyToAsync(_file, cancellationToken);
            _memory = null;
        }
        if (_file is not null)
        {
            await _file.WriteAsync(data, cancellationToken);
        }
        else
        {
            _memory!.Write(data.Span);
        }
    }

    /// <summary>Everything written, when it is all still in memory (not spilled); empty otherwise.</summary>
    public ReadOnlyMemory<byte> InMemory => _memory is { } memory ? memory.GetBuffer().AsMemory(0, (int)memory.Length) : default;

    /// <summary>A stream over everything written, from the start.</summary>
    public Stream OpenRead()
    {
        Stream stream = _file is not null ? _file : _memory!;
        stream.Position = 0;
        return stream;
    }

    /// <summary>The size of the pieces <see cref="ReadChunksAsync"/> hands out.</summary>
    public const int ChunkSize = 64 * 1024;

    /// <summary>
    /// Hands everything written, from the start, to <paramref name="consume"/> in pieces of at most
    /// <see cref="ChunkSize"/> bytes: straight out of memory, or through one pooled buffer from the file.
    /// </summary>
    public async Task ReadChunksAsync(Func<ReadOnlyMemory<byte>, Task> consume, CancellationToken cancellationToken)
    {
        if (_memory is not null)
        {
            var written = _memory.GetBuffer().AsMemory(0, (int)_memory.Length);
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
        _memory?.Dispose();
    }
}
