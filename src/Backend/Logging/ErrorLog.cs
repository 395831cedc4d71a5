using System.Globalization;

namespace Gunicorn.Backend.Logging;

/// <summary>
/// The error log, in gunicorn's format (<c>[2026-11-26 16:14:49 +0000] [PID] [INFO] message</c>) so that operators'
/// greps keep working. Thread-safe; writes whole lines.
/// </summary>
public static class ErrorLog
{
    private static readonly string[] Levels = ["debug", "info", "warning", "error", "critical"];
    private static readonly Lock Gate = new();
    private static int _minimum = 1;
    private static TextWriter _writer = Console.Error;

    public static void Configure(string level, TextWriter? writer = null)
    {
        _minimum = Math.Max(0, Array.IndexOf(Levels, level));
        _writer = writer ?? Console.Error;
    }

    public static void Debug(string message) => Write(0, message);
    public static void Info(string message) => Write(1, message);
    public static void Warning(string message) => Write(2, message);
    public static void Error(string message) => Write(3, message);
    public static void Critical(string message) => Write(4, message);

    private static void Write(int level, string message)
    {
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
            _writer.WriteLine(line);
            _writer.Flush();
        }
    }
}
