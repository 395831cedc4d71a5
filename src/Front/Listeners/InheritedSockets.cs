using System.Globalization;
using Gunicorn.Backend.Platform;
using Gunicorn.Shared.Platform;

namespace Gunicorn.Front.Listeners;

/// <summary>
/// Listening sockets a master may start with instead of opening <c>bind</c>: systemd's socket activation
/// (sd_listen_fds: LISTEN_PID is this process, LISTEN_FDS sockets from fd 3) or an old master's on USR2
/// (GUNICORN_FD, a comma-separated list of descriptors, as gunicorn passes them). The variables are removed and the
/// descriptors marked close-on-exec, so workers inherit neither.
/// </summary>
public static class InheritedSockets
{
    /// <summary>Environment variable naming the descriptors an old master hands to the new one (gunicorn's name).</summary>
    public const string UpgradeVariable = "GUNICORN_FD";

    private const int FirstSystemdFd = 3;

    /// <summary>The inherited descriptors and where they came from; empty when there are none.</summary>
    public static (IReadOnlyList<int> Fds, string Source) Take()
    {
        var upgrade = Environment.GetEnvironmentVariable(UpgradeVariable);
        Environment.SetEnvironmentVariable(UpgradeVariable, null);
        if (upgrade is not null)
        {
            var fds = upgrade.Split(',', StringSplitOptions.RemoveEmptyEntries)
                .Select(fd => int.Parse(fd, NumberStyles.None, CultureInfo.InvariantCulture)).ToList();
            fds.ForEach(Posix.SetCloseOnExec);
            return (fds, $"the old master ({UpgradeVariable})");
        }
        var systemd = TakeSystemdSockets();
        systemd.ToList().ForEach(Posix.SetCloseOnExec);
        return (systemd, "systemd (LISTEN_FDS)");
    }

    private static IReadOnlyList<int> TakeSystemdSockets()
    {
        var pid = Environment.GetEnvironmentVariable("LISTEN_PID");
        var count = Environment.GetEnvironmentVariable("LISTEN_FDS");
        foreach (var name in new[] { "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES" })
        {
            Environment.SetEnvironmentVariable(name, null);
        }
        if (pid is null || count is null
            || !int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out var listenPid) || listenPid != Environment.ProcessId
            || !int.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out var fds) || fds <= 0)
        {
            return [];
        }
        return Enumerable.Range(FirstSystemdFd, fds).ToList();
    }
}
