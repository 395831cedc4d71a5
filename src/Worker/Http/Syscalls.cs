using System.Runtime.InteropServices;

namespace Gunicorn.Worker.Http;

/// <summary>The connection went away (the front gave up on the request, or the worker is being replaced).</summary>
internal sealed class ConnectionLostException(string operation, int errno)
    : IOException($"{operation} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");

/// <summary>
/// The socket calls of the worker's connections, straight to libc on blocking descriptors: one system call per
/// receive or send, no SocketException allocations, and sendmsg/sendfile where .NET's Socket has no direct form.
/// </summary>
internal static unsafe partial class Syscalls
{
    private const int EINTR = 4, EAGAIN = 11;
    private const int MSG_NOSIGNAL = 0x4000, MSG_DONTWAIT = 0x40, MSG_PEEK = 0x2;
    private const int SOCK_CLOEXEC = 0x80000;

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    private static partial nint SysRecv(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    private static partial nint SysSendMsg(int fd, MsgHdr* message, int flags);

    [LibraryImport("libc", EntryPoint = "sendfile", SetLastError = true)]
    private static partial nint SysSendFile(int outFd, int inFd, long* offset, nuint count);

    [LibraryImport("libc", EntryPoint = "accept4", SetLastError = true)]
    private static partial int SysAccept4(int fd, void* address, void* addressLength, int flags);

    [LibraryImport("libc", EntryPoint = "close")]
    public static partial int Close(int fd);

    /// <summary>Receives into <paramref name="buffer"/>; 0 at end of stream.</summary>
    public static int Receive(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                var received = SysRecv(fd, p, (nuint)buffer.Length, 0);
                if (received >= 0)
                {
                    return (int)received;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR)
                {
                    throw new ConnectionLostException("recv", errno);
                }
            }
        }
    }

    /// <summary>Receives what has arrived without waiting; 0 at end of stream, -1 when nothing has arrived yet.</summary>
    public static int ReceiveNow(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                var received = SysRecv(fd, p, (nuint)buffer.Length, MSG_DONTWAIT);
                if (received >= 0)
                {
                    return (int)received;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno == EAGAIN)
                {
                    return -1;
                }
                if (errno != EINTR)
                {
                    throw new ConnectionLostException("recv", errno);
                }
            }
        }
    }

    /// <summary>Whether the peer has closed (or broken) the connection; bytes waiting to be read do not count.</summary>
    public static bool PeerClosed(int fd)
    {
        byte one;
        var received = SysRecv(fd, &one, 1, MSG_DONTWAIT | MSG_PEEK);
        return received == 0 || (received < 0 && Marshal.GetLastPInvokeError() is not (EAGAIN or EINTR));
    }

    /// <summary>Sends every byte of the buffers, in order, with as few system calls as the kernel allows.</summary>
    public static void SendAll(int fd, Span<IoVec> buffers)
    {
        fixed (IoVec* first = buffers)
        {
            var iov = first;
            var count = buffers.Length;
            while (count > 0)
            {
                var message = new MsgHdr { Iov = iov, IovLength = (nuint)Math.Min(count, 1024) };
                var sent = SysSendMsg(fd, &message, MSG_NOSIGNAL);
                if (sent < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == EINTR)
                    {
                        continue;
                    }
                    throw new ConnectionLostException("send", errno);
                }
                // Skip what went out; a partial buffer is continued from where it stopped.
                var left = (nuint)sent;
                while (count > 0 && left >= iov->Length)
                {
                    left -= iov->Length;
                    iov++;
                    count--;
                }
                if (count > 0 && left > 0)
                {
                    iov->Base = (byte*)iov->Base + left;
                    iov->Length -= left;
                }
            }
        }
    }

    public static void SendAll(int fd, ReadOnlySpan<byte> bytes)
    {
        fixed (byte* p = bytes)
        {
            Span<IoVec> one = [new IoVec { Base = p, Length = (nuint)bytes.Length }];
            SendAll(fd, one);
        }
    }

    /// <summary>sendfile(2) from <paramref name="fileFd"/> at <paramref name="offset"/>; returns the bytes sent (fewer at end of file).</summary>
    public static long SendFile(int socketFd, int fileFd, long offset, long count)
    {
        var sentTotal = 0L;
        while (sentTotal < count)
        {
            var position = offset + sentTotal;
            var sent = SysSendFile(socketFd, fileFd, &position, (nuint)Math.Min(count - sentTotal, 1L << 30));
            if (sent < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == EINTR)
                {
                    continue;
                }
                throw new ConnectionLostException("sendfile", errno);
            }
            if (sent == 0)
            {
                break; // the file is shorter than it was said to be
            }
            sentTotal += sent;
        }
        return sentTotal;
    }

    /// <summary>
    /// Accepts one pending connection (blocking, close-on-exec); -1 when none is waiting or it cannot be taken now
    /// (<paramref name="errno"/> says why: EAGAIN, or EMFILE when the worker is out of descriptors).
    /// </summary>
    public static int Accept(int listenerFd, out int errno)
    {
        while (true)
        {
            var fd = SysAccept4(listenerFd, null, null, SOCK_CLOEXEC);
            errno = fd >= 0 ? 0 : Marshal.GetLastPInvokeError();
            if (fd >= 0 || errno != EINTR)
            {
                return fd;
            }
        }
    }

    public const int WouldBlock = EAGAIN;
}
