using System.Runtime.InteropServices;

namespace Gunicorn.Backend.Platform;

/// <summary>The few libc calls .NET does not expose.</summary>
public static partial class Posix
{
    public const int SIGINT = 2;
    public const int SIGQUIT = 3;
    public const int SIGABRT = 6;
    public const int SIGKILL = 9;
    public const int SIGUSR1 = 10;
    public const int SIGUSR2 = 12;
    public const int SIGTERM = 15;
    public const int SIGCONT = 18;
    public const int SIGSTOP = 19;
    public const int SIGTTIN = 21;
    public const int SIGTTOU = 22;
    public const int SIGWINCH = 28;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "umask")]
    public static partial uint Umask(uint mask);

    [LibraryImport("libc", EntryPoint = "signal")]
    public static partial nint Signal(int signal, nint handler);

    /// <summary>SIG_DFL: a process started in the background by a shell inherits SIG_IGN for INT and QUIT.</summary>
    public static void RestoreDefaultDisposition(int signal) => Signal(signal, 0);

    public static string Name(int signal) => signal switch
    {
        SIGINT => "SIGINT",
        SIGQUIT => "SIGQUIT",
        SIGABRT => "SIGABRT",
        SIGKILL => "SIGKILL",
        SIGUSR1 => "SIGUSR1",
        SIGUSR2 => "SIGUSR2",
        SIGTERM => "SIGTERM",
        SIGTTIN => "SIGTTIN",
        SIGTTOU => "SIGTTOU",
        SIGWINCH => "SIGWINCH",
        1 => "SIGHUP",
        11 => "SIGSEGV",
        _ => $"signal {signal}",
    };
}
