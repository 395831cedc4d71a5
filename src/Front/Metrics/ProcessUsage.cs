using System.Globalization;

namespace Gunicorn.Front.Metrics;

/// <summary>A process's resident memory and CPU time, from /proc (no syscall wrapper needed, no ptrace rights).</summary>
public readonly record struct ProcessUsage(long ResidentBytes, long CpuTicks)
{
    /// <summary>Null when the process is gone (it exited between the worker list and this read).</summary>
    public static ProcessUsage? Read(int pid)
    {
        try
        {
            // statm: size resident shared ... in pages.
            var statm = File.ReadAllText($"/proc/{pid}/statm").Split(' ');
            var resident = long.Parse(statm[1], CultureInfo.InvariantCulture) * Environment.SystemPageSize;
            // stat: the command name (field 2) is in parentheses and may hold spaces; fields 14 and 15 (utime,
            // stime) count from after its closing parenthesis.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return new ProcessUsage(resident, ticks);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }
}
