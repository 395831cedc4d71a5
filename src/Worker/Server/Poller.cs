using System.Runtime.InteropServices;

namespace Gunicorn.Worker.Server;

/// <summary>
/// poll(2) over a handful of descriptors plus an eventfd that another thread can ring: the WSGI worker's event loop
/// waits on its listener and its idle connections with one system call and no thread pool.
/// </summary>
internal sealed partial class Poller : IDisposable
{
    public const short In = 0x1, Err = 0x8, Hup = 0x10, Nval = 0x20;

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static unsafe partial int SysPoll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    private static partial int EventFd(uint initial, int flags);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static unsafe partial nint SysRead(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint SysWrite(int fd, byte* buffer, nuint count);

    private const int EFD_CLOEXEC = 0x80000, EFD_NONBLOCK = 0x800, EINTR = 4;

    private readonly int _wakeFd;
    private PollFd[] _fds = new PollFd[16];
    private int _count;

    public Poller()
    {
        _wakeFd = EventFd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (_wakeFd < 0)
        {
            throw new IOException($"eventfd failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>Starts a new round: only the wake-up descriptor is watched until <see cref="Add"/> adds more.</summary>
    public void Reset() => _count = 0;

    /// <summary>Watches <paramref name="fd"/> for input this round; returns its index for <see cref="IsReady"/>.</summary>
    public int Add(int fd)
    {
        if (_count == _fds.Length - 1)
        {
            Array.Resize(ref _fds, _fds.Length * 2);
        }
        _fds[++_count] = new PollFd { Fd = fd, Events = In };
        return _count;
    }

    /// <summary>Waits until a watched descriptor is readable (or closed), <see cref="Wake"/> is called, or the timeout.</summary>
    /// <returns>true when <see cref="Wake"/> was called since the last wait.</returns>
    public unsafe bool Wait(int timeoutMs)
    {
        _fds[0] = new PollFd { Fd = _wakeFd, Events = In };
        for (var i = 1; i <= _count; i++)
        {
            _fds[i].Revents = 0;
        }
        fixed (PollFd* fds = _fds)
        {
            if (SysPoll(fds, (nuint)(_count + 1), timeoutMs) < 0 && Marshal.GetLastPInvokeError() != EINTR)
            {
                throw new IOException($"poll failed: errno {Marshal.GetLastPInvokeError()}");
            }
        }
        if ((_fds[0].Revents & In) == 0)
        {
            return false;
        }
        ulong value;
        SysRead(_wakeFd, (byte*)&value, sizeof(ulong));
        return true;
    }

    /// <summary>Readable, hung up or in error: either way the owner has something to do with it.</summary>
    public bool IsReady(int index) => (_fds[index].Revents & (In | Err | Hup | Nval)) != 0;

    /// <summary>Interrupts <see cref="Wait"/> from any thread.</summary>
    public unsafe void Wake()
    {
        ulong one = 1;
        SysWrite(_wakeFd, (byte*)&one, sizeof(ulong));
    }

    public void Dispose() => Gunicorn.Shared.Platform.Posix.Close(_wakeFd);
}
