using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace Gunicorn.Front.Forwarding;

/// <summary>Requests forwarded to each worker and not yet answered: for draining, timeout logs and 504s.</summary>
public sealed class InFlightRequests
{
    public sealed class Entry(string method, string path)
    {
        public string Method { get; } = method;
        public string Path { get; } = path;
        public long Started { get; } = Stopwatch.GetTimestamp();
        public volatile bool TimedOut;
    }

    private readonly ConcurrentDictionary<string, ConcurrentDictionary<Entry, byte>> _byWorker = new();

    public Entry Add(string workerKey, string method, string path)
    {
        var entry = new Entry(method, path);
        _byWorker.GetOrAdd(workerKey, _ => new()).TryAdd(entry, 0);
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
        foreach (var (key, entries) in _byWorker)
        {
            if (!liveKeys.Contains(key) && entries.IsEmpty)
            {
                _byWorker.TryRemove(key, out _);
            }
        }
    }
}
