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
    private readonly string? _path;
    private readonly Task _writer;
    private readonly SyslogSender? _syslog;
    private readonly string _syslogTag = "";
    private volatile bool _reopen;

    /// <param name="path"><c>accesslog</c>: <c>-</c> for stdout, a file, or null for syslog only.</param>
    /// <param name="syslog">Lines also go to syslog, tagged <c>gunicorn.PREFIX.access</c>, unless it says otherwise.</param>
    public AccessLogWriter(string? path, SyslogTarget? syslog = null)
    {
        _path = path;
        if (syslog is { AccessLog: true } && SyslogAddress.TryParse(syslog.Address, out var address))
        {
            _syslog = new SyslogSender(address, syslog.Facility);
            _syslogTag = $"gunicorn.{syslog.Prefix}.access";
        }
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>Whether a configuration logs requests at all (gunicorn: an accesslog, or syslog taking access lines).</summary>
    public static bool IsWanted(string? path, SyslogTarget? syslog) => path is not null || syslog is { AccessLog: true };

    /// <summary>Queues a line; when the disk cannot keep up, the request waits (asynchronously: its event thread goes
    /// on serving other connections) rather than lose the line.</summary>
    public ValueTask WriteAsync(string line) => _lines.Writer.TryWrite(line) ? ValueTask.CompletedTask : _lines.Writer.WriteAsync(line);

    public void Reopen() => _reopen = true;

    /// <summary>
    /// Never dies: a reopen that fails keeps the old file, and a batch that cannot be written (disk full, file gone)
    /// is dropped with an error-log line, so requests never wait on a writer that stopped reading.
    /// </summary>
    private async Task WriteLoopAsync()
    {
        IRawSink? sink = _path is null ? null : TryOpen(null);
        var batch = new StringBuilder();
        var failures = 0;
        while (await _lines.Reader.WaitToReadAsync())
        {
            while (batch.Length < 64 * 1024 && _lines.Reader.TryRead(out var line))
            {
                batch.Append(line).Append('\n');
                _syslog?.Send(1, _syslogTag, line);
            }
            if (_path is null)
            {
                batch.Clear();
                continue;
            }
            if (_reopen || sink is null)
            {
                _reopen = false;
                sink = TryOpen(sink);
            }
            try
            {
                sink?.Write(batch.ToString());
                failures = 0;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
            {
                // One line per run of failures, not one per batch.
                if (failures++ == 0)
                {
                    ErrorLog.Error($"Cannot write the access log {_path}: {e.Message}. Lines are dropped until it works again (check the disk and the file's permissions; USR1 reopens it).");
                }
            }
            batch.Clear();
        }
        sink?.Dispose();
        _syslog?.Dispose();
    }

    /// <summary>Opens the log; on failure keeps <paramref name="current"/> (or nothing) and says so.</summary>
    private IRawSink? TryOpen(IRawSink? current)
    {
        try
        {
            var opened = Open();
            current?.Dispose();
            return opened;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            ErrorLog.Error($"Cannot open the access log {_path}: {e.Message}. " +
                (current is null ? "Access lines are dropped until it can be opened." : "Still writing to the file opened before."));
            return current;
        }
    }

    private IRawSink Open() => _path == "-" ? new StdoutSink() : new FileSink(_path!);

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
