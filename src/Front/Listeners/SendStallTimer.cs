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
    // Arm (the send loop) and Fired (a timer thread) may overlap at a chunk's end: they take turns.
    private readonly Lock _gate = new();
    private long _ackedBefore;
    private long _deadline; // Environment.TickCount64 by which the client must have taken more bytes
    private bool _armed;

    public SendStallTimer(Socket socket, TimeSpan timeout, Action onStall)
    {
        _socket = socket;
        _timeout = timeout;
        _onStall = onStall;
        _timer = Limits.DetachedTimer.Create(static state => ((SendStallTimer)state!).Fired(), this,
            Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Starts timing a send: the client must take bytes within the timeout, and again within each one after.</summary>
    public void Arm()
    {
        var acked = BytesAcked();
        lock (_gate)
        {
            _ackedBefore = acked;
            _deadline = Deadline();
            _armed = true;
            _timer.Change(_timeout, Timeout.InfiniteTimeSpan);
        }
    }

    public void Disarm()
    {
        lock (_gate)
        {
            _armed = false;
            _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    private long Deadline() => Environment.TickCount64 + (long)Math.Ceiling(_timeout.TotalMilliseconds);

    private void Fired()
    {
        var acked = BytesAcked();
        lock (_gate)
        {
            if (!_armed)
            {
                return; // the send ended while the timer fired
            }
            var left = _deadline - Environment.TickCount64;
            if (left > 0)
            {
                // A fire meant for an earlier chunk, or one that read the bytes before Arm moved the mark: wait out
                // this chunk's own timeout.
                _timer.Change(TimeSpan.FromMilliseconds(left), Timeout.InfiniteTimeSpan);
                return;
            }
            if (acked > _ackedBefore)
            {
                _ackedBefore = acked;
                _deadline = Deadline();
                _timer.Change(_timeout, Timeout.InfiniteTimeSpan);
                return;
            }
            _armed = false;
        }
        _onStall();
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
