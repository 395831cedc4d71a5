using Gunicorn.Backend.Arbiter;

namespace Gunicorn.Front.Forwarding;

/// <summary>
/// Chooses the worker for each request: the least busy one with a free slot (ties go round-robin). A worker takes at
/// most its concurrency (sync: 1, gthread: threads, async: worker_connections); requests beyond that wait here, in a
/// bounded queue, instead of piling onto a busy worker. The worker set is swapped atomically.
/// </summary>
public sealed class WorkerDispatcher(int queueLimit)
{
    /// <summary>request_queue_size: requests that may wait for a worker; a reload may change it.</summary>
    public int QueueLimit { get; set; } = queueLimit;

    /// <summary>One worker as the dispatcher sees it.</summary>
    public sealed class Slot(WorkerEndpoint endpoint)
    {
        public WorkerEndpoint Endpoint { get; } = endpoint;
        public string Key => Endpoint.Key;

        /// <summary>The forwarder's destination prefix for this worker (its key is the host name WorkerSockets resolves).</summary>
        public string Prefix { get; } = $"http://{endpoint.Key}/";
        internal int InFlight;
    }

    private readonly Lock _gate = new();
    private readonly LinkedList<TaskCompletionSource<Slot?>> _waiting = new();
    private Slot[] _slots = [];
    private uint _turn;

    public bool HasWorkers => Volatile.Read(ref _slots).Length > 0;

    public void Publish(IReadOnlyList<WorkerEndpoint> ready)
    {
        lock (_gate)
        {
            // Keep the counters of workers that stay: they still have requests in flight.
            var current = _slots.ToDictionary(s => s.Key);
            _slots = ready.Select(w => current.TryGetValue(w.Key, out var slot) ? slot : new Slot(w)).ToArray();
            ServeWaiting();
        }
    }

    /// <summary>
    /// A slot on a free worker, waiting up to <paramref name="wait"/> when all are busy or none is ready.
    /// Null when the queue is full or the wait ran out. <paramref name="avoid"/> is skipped (a retry).
    /// </summary>
    public async Task<Slot?> AcquireAsync(TimeSpan wait, CancellationToken aborted, Slot? avoid = null)
    {
        TaskCompletionSource<Slot?> waiter;
        LinkedListNode<TaskCompletionSource<Slot?>> node;
        lock (_gate)
        {
            if (TryTake(avoid) is { } free)
            {
                return free;
            }
            if (_waiting.Count >= QueueLimit)
            {
                return null;
            }
            waiter = new TaskCompletionSource<Slot?>(TaskCreationOptions.RunContinuationsAsynchronously);
            node = _waiting.AddLast(waiter);
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        timeout.CancelAfter(wait);
        await using (timeout.Token.Register(() => waiter.TrySetResult(null)))
        {
            var slot = await waiter.Task;
            lock (_gate)
            {
                if (node.List is not null)
                {
                    _waiting.Remove(node);
                }
            }
            return slot;
        }
    }

    public void Release(Slot slot)
    {
        lock (_gate)
        {
            slot.InFlight--;
            ServeWaiting();
        }
    }

    private void ServeWaiting()
    {
        while (_waiting.First is { } first && TryTake(null) is { } free)
        {
            _waiting.RemoveFirst();
            if (!first.Value.TrySetResult(free))
            {
                free.InFlight--; // the waiter gave up at the same moment
            }
        }
    }

    private Slot? TryTake(Slot? avoid)
    {
        var slots = _slots;
        if (slots.Length == 0)
        {
            return null;
        }
        var start = (int)(++_turn % (uint)slots.Length);
        Slot? best = null;
        for (var i = 0; i < slots.Length; i++)
        {
            var candidate = slots[(start + i) % slots.Length];
            if (candidate == avoid || candidate.InFlight >= candidate.Endpoint.Concurrency)
            {
                continue;
            }
            if (best is null || candidate.InFlight < best.InFlight)
            {
                best = candidate;
            }
        }
        if (best is not null)
        {
            best.InFlight++;
        }
        return best;
    }
}
