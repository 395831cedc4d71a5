namespace Gunicorn.Tests.Infrastructure;

/// <summary>Reads /proc: the children of a process, a process's title, whether it is alive.</summary>
public static class ProcessTree
{
    public static IReadOnlyList<int> Children(int parentPid)
    {
        var children = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (int.Parse(fields[1]) == parentPid)
                {
                    children.Add(pid);
                }
            }
            catch (IOException)
            {
                // The process ended while we looked.
            }
        }
        return children;
    }

    public static string Title(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim();
        }
        catch (IOException)
        {
            return "";
        }
    }

    public static bool IsAlive(int pid)
    {
        try
        {
            // A zombie is dead for our purposes.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    public static int Uid(int pid) =>
        int.Parse(File.ReadAllLines($"/proc/{pid}/status").First(l => l.StartsWith("Uid:")).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1]);

    /// <summary>Proportional set size: the process's own pages plus its share of pages it shares (/proc/PID/smaps_rollup).</summary>
    public static double PssMiB(int pid) =>
        long.Parse(File.ReadAllLines($"/proc/{pid}/smaps_rollup").First(l => l.StartsWith("Pss:"))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
}
