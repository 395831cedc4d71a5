using System.Runtime.InteropServices;

namespace Gunicorn.Shared.Platform;

/// <summary>The few libc calls .NET does not expose.</summary>
public static partial class Posix
{
    public const int SIGHUP = 1;
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

    [LibraryImport("libc", EntryPoint = "execve", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int ExecVe(string path, string?[] argv, string?[] envp);

    /// <summary>
    /// Replaces this process with <paramref name="path"/> (execve), with the environment as .NET sees it now (.NET keeps
    /// its own copy: variables set or removed in this process reach the new program only this way). Returns only on
    /// failure, with the error.
    /// </summary>
    public static string Exec(string path, IReadOnlyList<string> argv)
    {
        var environment = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Select(e => $"{e.Key}={e.Value}").Append(null).ToArray();
        ExecVe(path, [.. argv, null], environment);
        return Marshal.GetLastPInvokeErrorMessage();
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "setuid", SetLastError = true)]
    public static partial int SetUid(uint uid);

    [LibraryImport("libc", EntryPoint = "setgid", SetLastError = true)]
    public static partial int SetGid(uint gid);

    [LibraryImport("libc", EntryPoint = "setgroups", SetLastError = true)]
    public static partial int SetGroups(nuint size, uint[]? groups);

    [LibraryImport("libc", EntryPoint = "initgroups", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int InitGroups(string user, uint group);

    [LibraryImport("libc", EntryPoint = "chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Chown(string path, uint uid, uint gid);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "dup2", SetLastError = true)]
    public static partial int Dup2(int oldFd, int newFd);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);

    private const int F_DUPFD = 0;
    private const int F_SETFD = 2;
    private const int F_DUPFD_CLOEXEC = 1030;
    private const int FD_CLOEXEC = 1;

    /// <summary>A second descriptor for the same socket that a program started next inherits (USR2's new master).</summary>
    public static int DupInheritable(int fd)
    {
        var copy = Fcntl(fd, F_DUPFD, 3);
        return copy >= 0 ? copy : throw new IOException($"fcntl(F_DUPFD) on fd {fd} failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Marks an inherited descriptor close-on-exec, so it does not leak further into workers.</summary>
    public static void SetCloseOnExec(int fd) => Fcntl(fd, F_SETFD, FD_CLOEXEC);

    /// <summary>A second descriptor for the same open socket or file, closed on exec (never inherited by workers).</summary>
    public static int DupCloseOnExec(int fd)
    {
        var copy = Fcntl(fd, F_DUPFD_CLOEXEC, 3);
        return copy >= 0 ? copy : throw new IOException($"fcntl(F_DUPFD_CLOEXEC) on fd {fd} failed: errno {Marshal.GetLastPInvokeError()}");
    }

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static partial nint SysWrite(int fd, ReadOnlySpan<byte> buffer, nuint count);

    /// <summary>Writes all bytes (a short write to a regular file only happens when the disk is full).</summary>
    public static void Write(int fd, ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            var written = SysWrite(fd, bytes, (nuint)bytes.Length);
            if (written <= 0)
            {
                return;
            }
            bytes = bytes[(int)written..];
        }
    }

    /// <summary>Writes all bytes to a pipe or socket; false when the reader is gone (EPIPE) or the write fails.</summary>
    public static bool TryWrite(int fd, ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            var written = SysWrite(fd, bytes, (nuint)bytes.Length);
            if (written < 0 && Marshal.GetLastPInvokeError() == EINTR)
            {
                continue;
            }
            if (written <= 0)
            {
                return false;
            }
            bytes = bytes[(int)written..];
        }
        return true;
    }

    private const int EINTR = 4;

    [LibraryImport("libc", EntryPoint = "close")]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "setsid", SetLastError = true)]
    public static partial int SetSid();

    public const int O_RDWR = 2, O_WRONLY = 1, O_CREAT = 0x40, O_APPEND = 0x400;

    /// <summary>Points stdout and stderr (fds 1 and 2, native writers included) at a file, opened for appending.</summary>
    public static void RedirectOutput(string path, bool includeStdin = false, bool includeOutput = true)
    {
        var fd = Open(path, (includeStdin ? O_RDWR : O_WRONLY) | O_CREAT | O_APPEND, Convert.ToUInt32("644", 8));
        if (fd < 0)
        {
            throw new IOException($"cannot open {path}: {Marshal.GetLastPInvokeErrorMessage()}");
        }
        int[] targets = [.. includeStdin ? [0] : Array.Empty<int>(), .. includeOutput ? [1, 2] : Array.Empty<int>()];
        foreach (var target in targets)
        {
            Dup2(fd, target);
        }
        Close(fd);
    }

    [LibraryImport("libc", EntryPoint = "umask")]
    public static partial uint Umask(uint mask);

    [LibraryImport("libc", EntryPoint = "signal")]
    public static partial nint Signal(int signal, nint handler);

    [LibraryImport("libc", EntryPoint = "sigaction")]
    private static unsafe partial int SigAction(int signal, void* action, void* oldAction);

    /// <summary>
    /// A process started in the background by a non-interactive shell inherits SIG_IGN for INT and QUIT, and the .NET
    /// runtime then never installs a handler for them (it decides once, when its signal handling starts). Call this
    /// first thing in Main: it resets only ignored signals, because overwriting the runtime's handler later would make
    /// the signal kill the process.
    /// </summary>
    public static void UnignoreTerminationSignals()
    {
        UnignoreSignal(SIGINT);
        UnignoreSignal(SIGQUIT);
    }

    private static unsafe void UnignoreSignal(int signal)
    {
        // struct sigaction starts with the handler pointer; 256 bytes covers the whole struct on every Linux ABI.
        var old = stackalloc byte[256];
        if (SigAction(signal, null, old) == 0 && *(nint*)old == 1)
        {
            Signal(signal, 0);
        }
    }

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
