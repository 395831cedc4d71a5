using System.Text;

namespace Gunicorn.Shared.Platform;

/// <summary>
/// Sets the title ps shows (/proc/PID/cmdline) by overwriting the process's original argv memory in place, as
/// setproctitle does; the title is cut to the space argv had. Also sets /proc/self/comm (15 bytes, for top).
/// </summary>
public static class ProcessTitle
{
    public static unsafe void Set(string title)
    {
        try
        {
            var (start, end) = ArgvArea();
            var length = (int)(end - start);
            if (length <= 1)
            {
                return;
            }
            var bytes = Encoding.UTF8.GetBytes(title);
            var area = new Span<byte>((void*)start, length);
            area.Clear();
            bytes.AsSpan(0, Math.Min(bytes.Length, length - 1)).CopyTo(area);
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            // A title is cosmetic: never fail a process over it.
        }
    }

    /// <summary>arg_start and arg_end, fields 48 and 49 of /proc/self/stat (proc(5)).</summary>
    private static (nint Start, nint End) ArgvArea()
    {
        var stat = File.ReadAllText("/proc/self/stat");
        // Field 2 (comm) may contain spaces and parentheses: count fields after its closing parenthesis.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (nint.Parse(fields[48 - 3]), nint.Parse(fields[49 - 3]));
    }
}
