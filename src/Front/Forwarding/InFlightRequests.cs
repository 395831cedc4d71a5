using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace Gunicorn.Front.Forwarding;

/// <summary>Requests forwarded to each worker and not yet answered: for draining, timeout logs and 504s.</summary>
public sealed class InFlightRequests
{
    public sealed class Entry(string method, string path, bool webSocket)
    {
        public string Method { get; } = method;
        public string Path { get; } = path;

        /// <summary>An upgraded connection (a WebSocket): in flight for as long as it stays open.</summary>
        public bool WebSocket { get; } = webSocket;
        public long Started { get; } = Stopwatch.GetTimestamp();
        public volatile bool TimedOut;
    }

    private readonly ConcurrentDictionary<string, ConcurrentDictionary<Entry, byte>> _byWorker = new();

    /// <summary>
    /// Orders Add against Prune: without it, Prune could drop a worker's set just as a request is added to it, and
    /// the request would be lost (no 504 after a timeout, and a TERM before it is answered).
    /// </summary>
    private readonly Lock _structure = new();

    public Entry Add(string workerKey, string method, string path, bool webSocket = false)
    {
        var entry = new Entry(method, path, webSocket);
        lock (_structure)
        {
            _byWorker.GetOrAdd(workerKey, static _ => new()).TryAdd(entry, 0);
        }
        return entry;
    }

    public void Remove(string workerKey, Entry entry)
    {
        if (_byWorker.TryGetValue(workerKey, out var entries))
        {
            entries.TryRemove(entry, out _);
        }
    }

    public int Count(string workerKey) => _byWorker.TryGetValue(workerKey, out var entries) ? entries.Count : 0;

    /// <summary>The worker's open WebSockets (counted in <see cref="Count"/> too).</summary>
    public int CountWebSockets(string workerKey) =>
        _byWorker.TryGetValue(workerKey, out var entries) ? entries.Keys.Count(e => e.WebSocket) : 0;

    public string? DescribeOldest(string workerKey)
    {
        if (!_byWorker.TryGetValue(workerKey, out var entries))
        {
            return null;
        }
        var oldest = entries.Keys.MinBy(e => e.Started);
        return oldest is null ? null
            : string.Create(CultureInfo.InvariantCulture,
                $"{oldest.Method} {oldest.Path} ({Stopwatch.GetElapsedTime(oldest.Started).TotalSeconds:0.0} s)");
    }

    public void MarkTimedOut(string workerKey)
    {
        if (_byWorker.TryGetValue(workerKey, out var entries))
        {
            foreach (var entry in entries.Keys)
            {
                entry.TimedOut = true;
            }
        }
    }

    /// <summary>Forgets workers that left the routing table and have nothing in flight.</summary>
    public void Prune(IReadOnlySet<string> liveKeys)
    {
        lock (_structure)
        {
            foreach (var (key, entries) in _byWorker)
            {
                if (!liveKeys.Contains(key) && entries.IsEmpty)
                {
                    _byWorker.TryRemove(key, out _);
                }
            }
        }
    }
}
