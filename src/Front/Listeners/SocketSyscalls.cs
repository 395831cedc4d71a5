using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Gunicorn.Front.Listeners;

/// <summary>
/// The two non-blocking sends that .NET's sockets do not offer, for the sendfile path: sendfile(2) that returns at
/// once when the socket's buffer is full (.NET's <c>SendPacketsAsync</c> makes an lseek and an fstat of the file around
/// it, and needs a FileStream), and send(2) with <c>MSG_MORE</c>, which holds a response head in the kernel until the
/// file that follows fills the segment (nginx's <c>tcp_nopush</c> without its two TCP_CORK setsockopt calls).
/// Both are tried first; when the kernel cannot take everything at once, the caller goes on with .NET's async sends.
/// </summary>
internal static partial class SocketSyscalls
{
    /// <summary>What the sends return when the socket's buffer is full (EAGAIN): nothing was sent, wait and retry.</summary>
    public const long WouldBlock = -2;

    /// <summary>What the sends return on any other error (the client left, the file cannot be read).</summary>
    public const long Failed = -1;

    private const int EINTR = 4;
    private const int EAGAIN = 11;
    private const int MsgDontWait = 0x40;
    private const int MsgNoSignal = 0x4000;
    private const int MsgMore = 0x8000;
    private const int FGetFl = 3;
    private const int ONonBlock = 0x800;

    [LibraryImport("libc", EntryPoint = "sendfile", SetLastError = true)]
    private static partial nint SendFileCall(SafeSocketHandle socket, SafeFileHandle file, ref long offset, nuint count);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    private static unsafe partial nint SendCall(SafeSocketHandle socket, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int FcntlCall(SafeSocketHandle socket, int command);

    /// <summary>
    /// Whether the socket's descriptor is non-blocking, so that sendfile(2) on it cannot hold a thread while a slow
    /// client reads (.NET makes it so at the socket's first asynchronous operation: Kestrel's first read).
    /// </summary>
    public static bool IsNonBlocking(Socket socket)
    {
        var flags = FcntlCall(socket.SafeHandle, FGetFl);
        return flags >= 0 && (flags & ONonBlock) != 0;
    }

    /// <summary>
    /// sendfile(2) of up to <paramref name="count"/> bytes of <paramref name="file"/> from <paramref name="offset"/>:
    /// the bytes the kernel took (fewer when the buffer filled, 0 when the file ends before <paramref name="offset"/>),
    /// <see cref="WouldBlock"/> or <see cref="Failed"/>.
    /// </summary>
    public static long SendFile(Socket socket, SafeFileHandle file, long offset, long count)
    {
        while (true)
        {
            var position = offset;
            if (Outcome(SendFileCall(socket.SafeHandle, file, ref position, (nuint)count)) is { } sent)
            {
                return sent;
            }
        }
    }

    /// <summary>
    /// send(2) with <c>MSG_MORE</c> and without waiting: the bytes the kernel took, <see cref="WouldBlock"/> or
    /// <see cref="Failed"/>. The kernel holds them until a send without the flag (the file's last bytes) pushes them.
    /// </summary>
    public static unsafe long SendMore(Socket socket, ReadOnlySpan<byte> bytes)
    {
        fixed (byte* start = bytes)
        {
            while (true)
            {
                if (Outcome(SendCall(socket.SafeHandle, start, (nuint)bytes.Length, MsgMore | MsgDontWait | MsgNoSignal)) is { } sent)
                {
                    return sent;
                }
            }
        }
    }

    /// <summary>A send's byte count, or what its error means here; null when a signal interrupted it (call again).</summary>
    private static long? Outcome(nint returned) => returned >= 0
        ? returned
        : Marshal.GetLastPInvokeError() switch
        {
            EINTR => null,
            EAGAIN => WouldBlock,
            _ => Failed,
        };
}
