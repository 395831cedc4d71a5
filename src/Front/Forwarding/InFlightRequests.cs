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

        // Its place in its worker's list (under that list's lock): added and removed without a lookup or a node.
        internal WorkerEntries? Owner;
        internal Entry? Previous;
        internal Entry? Next;
    }

    /// <summary>One worker's requests in flight: a linked list through the entries themselves, under one lock.</summary>
    internal sealed class WorkerEntries
    {
        private readonly Lock _gate = new();
        private Entry? _first;

        public int Count { get; private set; }

        public void Add(Entry entry)
        {
            lock (_gate)
            {
                entry.Owner = this;
                entry.Next = _first;
                _first?.Previous = entry;
                _first = entry;
                Count++;
            }
        }

        public void Remove(Entry entry)
        {
            lock (_gate)
            {
                if (entry.Owner != this)
                {
                    return;
                }
                entry.Previous?.Next = entry.Next;
                entry.Next?.Previous = entry.Previous;
                if (_first == entry)
                {
                    _first = entry.Next;
                }
                entry.Owner = null;
                entry.Previous = entry.Next = null;
                Count--;
            }
        }

        public List<Entry> Snapshot()
        {
            lock (_gate)
            {
                var all = new List<Entry>(Count);
                for (var entry = _first; entry is not null; entry = entry.Next)
                {
                    all.Add(entry);
                }
                return all;
            }
        }
    }

    private readonly ConcurrentDictionary<string, WorkerEntries> _byWorker = new();

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
            _byWorker.GetOrAdd(workerKey, static _ => new()).Add(entry);
        }
        return entry;
    }

    /// <summary>The request has its answer (or failed): it leaves its worker's list.</summary>
    public static void Remove(Entry entry) => entry.Owner?.Remove(entry);

    public int Count(string workerKey) => _byWorker.TryGetValue(workerKey, out var entries) ? entries.Count : 0;

    /// <summary>The worker's open WebSockets (counted in <see cref="Count"/> too).</summary>
    public int CountWebSockets(string workerKey) =>
        _byWorker.TryGetValue(workerKey, out var entries) ? entries.Snapshot().Count(e => e.WebSocket) : 0;

    public string? DescribeOldest(string workerKey)
    {
        if (!_byWorker.TryGetValue(workerKey, out var entries))
        {
            return null;
        }
        var oldest = entries.Snapshot().MinBy(e => e.Started);
        return oldest is null ? null
            : string.Create(CultureInfo.InvariantCulture,
                $"{oldest.Method} {oldest.Path} ({Stopwatch.GetElapsedTime(oldest.Started).TotalSeconds:0.0} s)");
    }

    public void MarkTimedOut(string workerKey)
    {
        if (_byWorker.TryGetValue(workerKey, out var entries))
        {
            foreach (var entry in entries.Snapshot())
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
                if (!liveKeys.Contains(key) && entries.Count == 0)
                {
                    _byWorker.TryRemove(key, out _);
                }
            }
        }
    }
}
