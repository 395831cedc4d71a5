using System.Text;
using System.Threading.Channels;
using Gunicorn.Shared.Logging;

namespace Gunicorn.Front.AccessLog;

/// <summary>
/// Writes access log lines off the request path: requests enqueue, one background task writes batches to stdout
/// (<c>-</c>) or to a file opened with O_APPEND. Reopen (USR1) takes effect at the next batch.
/// </summary>
public sealed class AccessLogWriter : IAsyncDisposable
{
    private readonly Channel<string> _lines = Channel.CreateBounded<string>(new BoundedChannelOptions(65536)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait,
    });
    private readonly string _path;
    private readonly Task _writer;
    private volatile bool _reopen;

    public AccessLogWriter(string path)
    {
        _path = path;
        _writer = Task.Run(WriteLoopAsync);
    }

    public void Write(string line)
    {
        if (!_lines.Writer.TryWrite(line))
        {
            // The disk cannot keep up: wait rather than lose lines.
            _lines.Writer.WriteAsync(line).AsTask().GetAwaiter().GetResult();
        }
    }

    public void Reopen() => _reopen = true;

    private async Task WriteLoopAsync()
    {
        var sink = Open();
        var batch = new StringBuilder();
        while (await _lines.Reader.WaitToReadAsync())
        {
            while (batch.Length < 64 * 1024 && _lines.Reader.TryRead(out var line))
            {
                batch.Append(line).Append('\n');
            }
            if (_reopen)
            {
                _reopen = false;
                sink.Dispose();
                sink = Open();
            }
            sink.Write(batch.ToString());
            batch.Clear();
        }
        sink.Dispose();
    }

    private IRawSink Open() => _path == "-" ? new StdoutSink() : new FileSink(_path);

    public async ValueTask DisposeAsync()
    {
        _lines.Writer.TryComplete();
        await _writer;
    }

    private interface IRawSink : IDisposable
    {
        void Write(string text);
    }

    private sealed class StdoutSink : IRawSink
    {
        private readonly Stream _stdout = Console.OpenStandardOutput();

        public void Write(string text)
        {
            _stdout.Write(Encoding.UTF8.GetBytes(text));
            _stdout.Flush();
        }

        public void Dispose() => _stdout.Dispose();
    }

    private sealed class FileSink(string path) : IRawSink
    {
        private readonly AppendFileSink _file = new(path);

        // AppendFileSink adds a newline per call; the batch already ends with one.
        public void Write(string text) => _file.WriteLine(text.TrimEnd('\n'));

        public void Dispose() => _file.Dispose();
    }
}
