using System.Globalization;

namespace Gunicorn.Shared.Logging;

/// <summary>
/// The error log, in gunicorn's format (<c>[2026-11-26 16:14:49 +0000] [PID] [INFO] message</c>) so that operators'
/// greps keep working. Thread-safe; writes whole lines.
/// </summary>
public static class ErrorLog
{
    private static readonly string[] Levels = ["debug", "info", "warning", "error", "critical"];
    private static readonly Lock Gate = new();
    private static int _minimum = 1;
    private static ILogSink _sink = new StderrSink();
    private static string _path = StderrPath;

    /// <summary>gunicorn's name for "the error log is stderr".</summary>
    public const string StderrPath = "-";

    /// <summary>Sets the level and the destination: <c>-</c> for stderr, otherwise a file opened for appending.</summary>
    public static void Configure(string level, string path = StderrPath)
    {
        _minimum = Math.Max(0, Array.IndexOf(Levels, level));
        _path = path;
        // At start a file that cannot be opened is the caller's error to report (it throws); later, Reopen keeps going.
        Replace(_path == StderrPath ? new StderrSink() : new AppendFileSink(_path));
    }

    /// <summary>
    /// Reopens the log file (USR1), so logrotate can move the old one away. A file that cannot be opened (a missing
    /// directory, permissions) leaves the current destination in place, and the reason goes there.
    /// </summary>
    public static void Reopen()
    {
        ILogSink sink;
        try
        {
            sink = _path == StderrPath ? new StderrSink() : new AppendFileSink(_path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Error($"Cannot reopen the error log {_path}: {e.Message}. Still writing where it wrote before; fix the path or its permissions and send USR1 again.");
            return;
        }
        Replace(sink);
    }

    private static void Replace(ILogSink sink)
    {
        ILogSink old;
        lock (Gate)
        {
            old = _sink;
            _sink = sink;
        }
        old.Dispose();
    }

    private static SyslogSender? _syslog;
    private static string _syslogTag = "";

    /// <summary><c>syslog</c>: every line written also goes to syslog, tagged <c>gunicorn.PREFIX.error</c> as gunicorn's are.</summary>
    public static void SendToSyslog(SyslogTarget? target)
    {
        var old = _syslog;
        if (target is not null && SyslogAddress.TryParse(target.Address, out var address))
        {
            _syslogTag = $"gunicorn.{target.Prefix}.error";
            _syslog = new SyslogSender(address, target.Facility);
        }
        else
        {
            _syslog = null;
        }
        old?.Dispose();
    }

    /// <summary>Lets per-request debug lines skip formatting their message when debug is off.</summary>
    public static bool DebugEnabled => _minimum == 0;

    public static void Debug(string message) => Write(0, message);
    public static void Info(string message) => Write(1, message);
    public static void Warning(string message) => Write(2, message);
    public static void Error(string message) => Write(3, message);
    public static void Critical(string message) => Write(4, message);

    /// <summary>Called with "warning", "error" or "critical" for every such line, before the level filter (StatsD's
    /// gunicorn.log.* counters count them as gunicorn does).</summary>
    public static Action<string>? Counted { get; set; }

    private static void Write(int level, string message)
    {
        if (level >= 2)
        {
            Counted?.Invoke(Levels[level]);
        }
        if (level < _minimum)
        {
            return;
        }
        var now = DateTimeOffset.Now;
        var offset = now.Offset;
        var zone = $"{(offset < TimeSpan.Zero ? '-' : '+')}{Math.Abs(offset.Hours):00}{Math.Abs(offset.Minutes):00}";
        var line = $"[{now.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} {zone}] [{Environment.ProcessId}] [{Levels[level].ToUpperInvariant()}] {message}";
        lock (Gate)
        {
            _sink.WriteLine(line);
        }
        _syslog?.Send(level, _syslogTag, line);
    }
}
