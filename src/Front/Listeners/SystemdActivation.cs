using System.Globalization;

namespace Gunicorn.Front.Listeners;

/// <summary>
/// systemd socket activation (sd_listen_fds): when LISTEN_PID is this process, LISTEN_FDS sockets start at fd 3 and
/// are used instead of <c>bind</c>, as gunicorn does. The variables are removed so workers do not inherit them.
/// </summary>
public static class SystemdActivation
{
    private const int FirstFd = 3;

    public static IReadOnlyList<int> TakeInheritedSockets()
    {
        var pid = Environment.GetEnvironmentVariable("LISTEN_PID");
        var count = Environment.GetEnvironmentVariable("LISTEN_FDS");
        if (pid is null || count is null
            || !int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out var listenPid) || listenPid != Environment.ProcessId
            || !int.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out var fds) || fds <= 0)
        {
            return [];
        }
        foreach (var name in new[] { "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES" })
        {
            Environment.SetEnvironmentVariable(name, null);
        }
        return Enumerable.Range(FirstFd, fds).ToList();
    }
}
