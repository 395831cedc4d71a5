using System.Runtime.InteropServices;
using System.Text;
using Gunicorn.Shared.Platform;

namespace Gunicorn.Shared.Logging;

/// <summary>Where log lines go. Each line is written whole, in one write.</summary>
public interface ILogSink : IDisposable
{
    void WriteLine(string line);
}

public sealed class StderrSink : ILogSink
{
    public void WriteLine(string line)
    {
        Console.Error.WriteLine(line);
        Console.Error.Flush();
    }

    public void Dispose()
    {
    }
}

/// <summary>
/// A file opened with O_APPEND and written with write(2): the master and every worker append to the same log, and
/// each line lands whole at the end. (.NET's FileStream keeps its own offset and would overwrite other writers.)
/// </summary>
public sealed class AppendFileSink : ILogSink
{
    private readonly int _fd;

    public AppendFileSink(string path)
    {
        _fd = Posix.Open(path, Posix.O_WRONLY | Posix.O_CREAT | Posix.O_APPEND, Convert.ToUInt32("644", 8));
        if (_fd < 0)
        {
            throw new IOException($"cannot open log file {path}: {Marshal.GetLastPInvokeErrorMessage()}");
        }
    }

    public void WriteLine(string line) => Posix.Write(_fd, Encoding.UTF8.GetBytes(line + "\n"));

    public void Dispose() => Posix.Close(_fd);
}
