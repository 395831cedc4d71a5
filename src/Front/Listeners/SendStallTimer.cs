using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Gunicorn.Front.Listeners;

/// <summary>
/// nginx's <c>send_timeout</c> for file bodies sent with sendfile(2): the connection is closed when the client has
/// taken no bytes for the timeout, however long a whole chunk takes (a slow but steady reader is never cut off, as
/// with nginx, whose timeout runs "between two successive write operations"). A chunk is one SendPacketsAsync that
/// reports nothing until it ends, so progress is read from the kernel when the timer fires: the bytes the client
/// acknowledged (TCP_INFO's <c>tcpi_bytes_acked</c>). A stall is therefore seen between one and two timeouts after
/// the client's last byte. On a socket without TCP_INFO (a Unix socket), the whole chunk must fit in the timeout.
/// </summary>
public sealed class SendStallTimer : IDisposable
{
    private const int IpProtocolTcp = 6;
    private const int TcpInfo = 11;

    /// <summary>The offset of <c>tcpi_bytes_acked</c> in Linux's <c>struct tcp_info</c> (since Linux 4.1).</summary>
    private const int BytesAckedOffset = 120;

    private readonly Socket _socket;
    private readonly TimeSpan _timeout;
    private readonly Action _onStall;
    private readonly ITimer _timer;
    private long _ackedBefore;
    private int _armed;

    public SendStallTimer(Socket socket, TimeSpan timeout, Action onStall)
    {
        _socket = socket;
        _timeout = timeout;
        _onStall = onStall;
        _timer = TimeProvider.System.CreateTimer(static state => ((SendStallTimer)state!).Fired(), this,
            Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Starts timing a send: the client must take bytes within the timeout, and again within each one after.</summary>
    public void Arm()
    {
        _ackedBefore = BytesAcked();
        Volatile.Write(ref _armed, 1);
        _timer.Change(_timeout, Timeout.InfiniteTimeSpan);
    }

    public void Disarm()
    {
        Volatile.Write(ref _armed, 0);
        _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    private void Fired()
    {
        if (Volatile.Read(ref _armed) == 0)
        {
            return; // the send ended while the timer fired
        }
        var acked = BytesAcked();
        if (acked > _ackedBefore)
        {
            _ackedBefore = acked;
            _timer.Change(_timeout, Timeout.InfiniteTimeSpan);
            return;
        }
        if (Interlocked.Exchange(ref _armed, 0) == 1)
        {
            _onStall();
        }
    }

    /// <summary>The bytes the peer acknowledged so far; -1 where the socket cannot tell (then no send counts as progress).</summary>
    private long BytesAcked()
    {
        if (_socket.ProtocolType != ProtocolType.Tcp)
        {
            return -1;
        }
        Span<byte> info = stackalloc byte[BytesAckedOffset + sizeof(long)];
        try
        {
            var length = _socket.GetRawSocketOption(IpProtocolTcp, TcpInfo, info);
            return length >= info.Length ? MemoryMarshal.Read<long>(info[BytesAckedOffset..]) : -1;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return -1; // the connection is gone: nothing more will be taken
        }
    }

    public void Dispose() => _timer.Dispose();
}
