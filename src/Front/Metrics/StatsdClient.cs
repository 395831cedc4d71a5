using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Gunicorn.Settings.Records;
using Gunicorn.Shared.Logging;
using Gunicorn.Shared.Metrics;

namespace Gunicorn.Front.Metrics;

/// <summary>
/// gunicorn's StatsD instrumentation (<c>gunicorn/instrument/statsd.py</c>), with its metric names and types:
/// per request <c>gunicorn.requests</c> (counter), <c>gunicorn.request.duration</c> (timer, ms) and
/// <c>gunicorn.request.status.NNN</c> (counter); <c>gunicorn.workers</c> (gauge) when the number of ready workers
/// changes; <c>gunicorn.log.warning|error|critical</c> (counters) for the master's log lines (each worker counts its
/// own, <see cref="StatsdSocket.CountLogLines"/>). Names take
/// <c>statsd_prefix</c> (a dot is added as gunicorn does) and lines end with <c>|#dogstatsd_tags</c> when set.
/// A request's three lines go in one datagram (StatsD's multi-metric packet). Sends never block: a non-blocking
/// datagram socket, and a StatsD that is down, refuses or does not resolve costs one warning, then silence.
/// </summary>
public sealed class StatsdClient : IDisposable
{
    private readonly Socket? _socket;
    private readonly string _prefix;
    private readonly string _tags;
    private int _warned;
    private int _lastWorkers = -1;

    private StatsdClient(Socket? socket, string prefix, string? tags)
    {
        _socket = socket;
        _prefix = prefix.Length > 0 && !prefix.EndsWith('.') ? prefix + "." : prefix;
        _tags = string.IsNullOrEmpty(tags) ? "" : "|#" + tags;
    }

    /// <summary>A client for <c>statsd_host</c>, or null when it is unset.</summary>
    public static StatsdClient? Create(StatsdConfig config)
    {
        if (config.Host is not { } host)
        {
            return null;
        }
        var socket = StatsdSocket.Open(host, out var problem);
        if (socket is null)
        {
            ErrorLog.Warning($"StatsD at {host} cannot be reached ({problem}); no metrics will be sent. Fix statsd_host or start StatsD, then reload.");
        }
        var client = new StatsdClient(socket, config.Prefix, config.DogstatsdTags);
        if (socket is not null)
        {
            ErrorLog.Counted = level => client.Send($"{client._prefix}gunicorn.log.{level}:1|c|@1.0{client._tags}");
        }
        return client;
    }

    /// <summary>Middleware: the three per-request metrics, sent when the response is done.</summary>
    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await next(context);
        }
        finally
        {
            var milliseconds = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            Send(string.Create(CultureInfo.InvariantCulture,
                $"{_prefix}gunicorn.request.duration:{milliseconds:0.###}|ms{_tags}\n{_prefix}gunicorn.requests:1|c|@1.0{_tags}\n{_prefix}gunicorn.request.status.{context.Response.StatusCode}:1|c|@1.0{_tags}"));
        }
    }

    /// <summary>gunicorn's gunicorn.backlog gauge (enable_backlog_metric).</summary>
    public void Backlog(int waiting) => Send(string.Create(CultureInfo.InvariantCulture, $"{_prefix}gunicorn.backlog:{waiting}|g{_tags}"));

    /// <summary>The gunicorn.workers gauge, when the number of workers taking requests changes.</summary>
    public void Workers(int count)
    {
        if (Interlocked.Exchange(ref _lastWorkers, count) != count)
        {
            Send(string.Create(CultureInfo.InvariantCulture, $"{_prefix}gunicorn.workers:{count}|g{_tags}"));
        }
    }

    private void Send(string datagram)
    {
        if (_socket is null)
        {
            return;
        }
        try
        {
            _socket.Send(Encoding.ASCII.GetBytes(datagram), SocketFlags.None, out var error);
            if (error is SocketError.Success or SocketError.WouldBlock)
            {
                return;
            }
            WarnOnce(error.ToString());
        }
        catch (ObjectDisposedException)
        {
            // Stopping.
        }
    }

    private void WarnOnce(string reason)
    {
        if (Interlocked.Exchange(ref _warned, 1) == 0)
        {
            // Not through ErrorLog.Warning's counter: a warning about StatsD must not become a StatsD send.
            var counted = ErrorLog.Counted;
            ErrorLog.Counted = null;
            ErrorLog.Warning($"Error sending message to statsd ({reason}); further errors are not logged. Check that StatsD listens at statsd_host.");
            ErrorLog.Counted = counted;
        }
    }

    public void Dispose()
    {
        ErrorLog.Counted = null;
        _socket?.Dispose();
    }
}
