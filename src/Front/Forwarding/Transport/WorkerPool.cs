using System.Net.Sockets;

namespace Gunicorn.Front.Forwarding.Transport;

/// <summary>
/// The idle kept-alive connections to one worker, most recently used first (a warm connection is the one reused).
/// Retired when the worker leaves the routing table: its idle connections close, and connections still carrying a
/// request close when they come back.
/// </summary>
internal sealed class WorkerPool(string key, string path)
{
    /// <summary>More idle connections than this to one worker are closed: a burst does not leave hundreds open.</summary>
    internal const int MaxIdle = 64;

    private readonly Lock _gate = new();
    private readonly Stack<WorkerConnection> _idle = new();
    private bool _retired;

    public string Key { get; } = key;
    public string Path { get; } = path;
    public UnixDomainSocketEndPoint EndPoint { get; } = new(path);

    /// <summary>Idle connections now (for tests and the sweep).</summary>
    public int IdleCount
    {
        get
        {
            lock (_gate)
            {
                return _idle.Count;
            }
        }
    }

    /// <summary>
    /// An idle connection that is still open and has nothing waiting to be read, or null (the caller connects a new
    /// one). The poll(2) costs a syscall per request, but it is also what keeps bytes a worker sent past a response's
    /// framing from being read as the next request's response, so every request pays it.
    /// </summary>
    public WorkerConnection? TryRent()
    {
        while (true)
        {
            WorkerConnection? connection;
            lock (_gate)
            {
                if (!_idle.TryPop(out connection))
                {
                    return null;
                }
            }
            if (connection.IsIdleAndOpen())
            {
                return connection;
            }
            connection.Dispose(); // the worker closed it while it was idle (it exited or recycled): never reused
        }
    }

    public void Return(WorkerConnection connection)
    {
        connection.ResetForReuse();
        connection.IdleSince = Environment.TickCount64;
        lock (_gate)
        {
            if (!_retired && _idle.Count < MaxIdle)
            {
                _idle.Push(connection);
                return;
            }
        }
        connection.Dispose();
    }

    /// <summary>Closes the connections idle since before <paramref name="cutoff"/> (Environment.TickCount64).</summary>
    public void CloseIdleSince(long cutoff)
    {
        List<WorkerConnection>? stale = null;
        lock (_gate)
        {
            if (_idle.Count == 0)
            {
                return;
            }
            var keep = new List<WorkerConnection>();
            foreach (var connection in _idle)
            {
                (connection.IdleSince < cutoff || _retired ? stale ??= [] : keep).Add(connection);
            }
            _idle.Clear();
            for (var i = keep.Count - 1; i >= 0; i--)
            {
                _idle.Push(keep[i]);
            }
        }
        stale?.ForEach(c => c.Dispose());
    }

    public void Retire()
    {
        lock (_gate)
        {
            _retired = true;
        }
        CloseIdleSince(long.MaxValue);
    }
}
