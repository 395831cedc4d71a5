using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;

namespace Gunicorn.Shared.Logging;

/// <summary>
/// Sends log lines to syslog as gunicorn's SysLogHandler does: <c>&lt;PRI&gt;TAG: LINE</c>, NUL-terminated on
/// datagram sockets, newline-framed on streams. Never blocks a caller and never throws: callers queue their lines
/// (a request's error line may be logged on the front's event thread) and one background task sends them, in order;
/// a daemon that is down costs one warning on stderr, a stream socket is reconnected on a later line after a failure,
/// and lines that find the queue full (syslog far behind) are dropped rather than held.
/// </summary>
public sealed class SyslogSender : IDisposable
{
    private readonly SyslogAddress _address;
    private readonly int _facility;
    private readonly Lock _gate = new();
    private Socket? _socket;
    private int _warned;
    private long _retryAt;
    private bool _disposed;

    /// <summary>After a failure, lines are dropped this long before a new connection is tried: a syslog that is down
    /// or unreachable must cost the logging threads nothing.</summary>
    private static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan ConnectPatience = TimeSpan.FromSeconds(1);

    private readonly Channel<(int Level, string Tag, string Line)> _queue = Channel.CreateBounded<(int, string, string)>(
        new BoundedChannelOptions(4096) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });
    private readonly Task _sending;

    /// <summary>How long disposing (and the process's exit) waits for queued lines to leave.</summary>
    private static readonly TimeSpan DrainPatience = TimeSpan.FromSeconds(1);

    public SyslogSender(SyslogAddress address, string facility)
    {
        _address = address;
        _facility = SyslogAddress.Facilities[facility];
        _sending = Task.Run(SendQueuedAsync);
        // The last lines (a shutdown's) still leave when the process exits without disposing the sender.
        _onExit = (_, _) => Dispose();
        AppDomain.CurrentDomain.ProcessExit += _onExit;
    }

    private readonly EventHandler _onExit;

    private async Task SendQueuedAsync()
    {
        while (await _queue.Reader.WaitToReadAsync())
        {
            while (_queue.Reader.TryRead(out var item))
            {
                try
                {
                    SendNow(item.Level, item.Tag, item.Line);
                }
                catch (Exception)
                {
                    // SendNow reports what it expects; nothing else may stop the lines behind this one.
                }
            }
        }
    }

    /// <summary>RFC 5424 severities for gunicorn's levels: debug, info, warning, error, critical.</summary>
    private static readonly int[] Severities = [7, 6, 4, 3, 2];

    /// <param name="level">0 debug .. 4 critical.</param>
    /// <summary>Set when a unix path without #TYPE turned out to be a stream socket.</summary>
    private bool _streamFallback;

    public void Send(int level, string tag, string line) => _queue.Writer.TryWrite((level, tag, line));

    private void SendNow(int level, string tag, string line)
    {
        var datagram = _address.Datagram && !_streamFallback;
        var text = $"<{_facility * 8 + Severities[level]}>{tag}: {line}{(datagram ? '\0' : '\n')}";
        var bytes = Encoding.UTF8.GetBytes(text);
        lock (_gate)
        {
            if (_disposed || (_socket is null && System.Diagnostics.Stopwatch.GetTimestamp() < _retryAt))
            {
                return;
            }
            try
            {
                _socket ??= Connect();
                if (datagram)
                {
                    _socket.Send(bytes, SocketFlags.None, out var error);
                    if (error is not (SocketError.Success or SocketError.WouldBlock))
                    {
                        throw new SocketException((int)error);
                    }
                }
                else
                {
                    _socket.Send(bytes);
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException or AggregateException)
            {
                _socket?.Dispose();
                _socket = null;
                _retryAt = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(RetryAfter.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
                if (Interlocked.Exchange(ref _warned, 1) == 0)
                {
                    Console.Error.WriteLine($"[{Environment.ProcessId}] [WARNING] Cannot send to syslog at {_address} ({e.Message}); further failures are not reported. Check syslog_addr and that the syslog daemon runs.");
                }
            }
        }
    }

    private Socket Connect()
    {
        Socket socket;
        if (_address.Kind == "unix")
        {
            socket = new Socket(AddressFamily.Unix, _address.Datagram ? SocketType.Dgram : SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                socket.Connect(new UnixDomainSocketEndPoint(_address.HostOrPath));
            }
            catch (SocketException) when (_address is { Datagram: true, TypeGiven: false })
            {
                // Not a datagram socket: the stream driver, as Python's SysLogHandler falls back to.
                socket.Dispose();
                socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                socket.Connect(new UnixDomainSocketEndPoint(_address.HostOrPath));
                _streamFallback = true;
            }
        }
        else
        {
            socket = new Socket(_address.Datagram ? SocketType.Dgram : SocketType.Stream, _address.Datagram ? ProtocolType.Udp : ProtocolType.Tcp);
            // A bounded connect (and name lookup): a host that does not answer must not hold the logging threads.
            if (!socket.ConnectAsync(_address.HostOrPath, _address.Port).Wait(ConnectPatience))
            {
                socket.Dispose();
                throw new SocketException((int)SocketError.TimedOut);
            }
        }
        socket.SendTimeout = 1000;
        if (socket.SocketType == SocketType.Dgram)
        {
            socket.Blocking = false;
        }
        return socket;
    }

    public void Dispose()
    {
        AppDomain.CurrentDomain.ProcessExit -= _onExit;
        if (_queue.Writer.TryComplete())
        {
            _sending.Wait(DrainPatience);
        }
        lock (_gate)
        {
            _disposed = true;
            _socket?.Dispose();
            _socket = null;
        }
    }
}
