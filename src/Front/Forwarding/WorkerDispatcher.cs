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
    /// <summary>
    /// A request waiting for a slot, the worker it must not get (the one its last attempt failed on), and when it gives
    /// up. Completed outside the dispatcher's lock by the request that frees a slot, and the waiting request goes on in
    /// that same thread (it writes its head to the worker and awaits the answer): no hop to another thread.
    /// </summary>
    private sealed class Waiter(Slot? avoid, CancellationToken aborted, long deadline) : TaskCompletionSource<Slot?>
    {
        public Slot? Avoid { get; } = avoid;
        public bool GaveUp(long now) => now >= deadline || aborted.IsCancellationRequested;
    }

    /// <summary>
    /// How often waiting requests are checked for a wait that ran out or a client that went away. One timer for the
    /// whole queue, armed only while something waits: under load most requests wait a little (32 clients, 5 sync
    /// workers), and a timer and two cancellation registrations each cost more than the rest of the queueing.
    /// </summary>
    internal static readonly TimeSpan SweepInterval = TimeSpan.FromMilliseconds(100);

    private readonly LinkedList<Waiter> _waiting = new();
    private Timer? _sweep;
    private Slot[] _slots = [];
    private uint _turn;

    public bool HasWorkers => Volatile.Read(ref _slots).Length > 0;

    /// <summary>Requests waiting for a free worker now.</summary>
    public int Queued
    {
        get
        {
            lock (_gate)
            {
                return _waiting.Count;
            }
        }
    }

    public void Publish(IReadOnlyList<WorkerEndpoint> ready)
    {
        Served served;
        lock (_gate)
        {
            // Keep the counters of workers that stay: they still have requests in flight.
            var current = _slots.ToDictionary(s => s.Key);
            _slots = ready.Select(w => current.TryGetValue(w.Key, out var slot) ? slot : new Slot(w)).ToArray();
            served = ServeWaiting();
        }
        served.Complete(this);
    }

    /// <summary>
    /// A slot on a free worker, waiting up to <paramref name="wait"/> (give or take <see cref="SweepInterval"/>) when all
    /// are busy or none is ready. Null when the queue is full, the wait ran out or the client went away.
    /// <paramref name="avoid"/> is skipped (a retry).
    /// </summary>
    public ValueTask<Slot?> AcquireAsync(TimeSpan wait, CancellationToken aborted, Slot? avoid = null)
    {
        Waiter? waiter = null;
        List<Waiter>? gaveUp = null;
        lock (_gate)
        {
            if (TryTake(avoid) is { } free)
            {
                return ValueTask.FromResult<Slot?>(free);
            }
            // Waiters whose client left still hold their places until the next sweep: a full queue drops them first.
            if (_waiting.Count >= QueueLimit)
            {
                gaveUp = RemoveGaveUp(Environment.TickCount64);
            }
            if (_waiting.Count < QueueLimit && !aborted.IsCancellationRequested)
            {
                var deadline = wait == Timeout.InfiniteTimeSpan ? long.MaxValue : Environment.TickCount64 + (long)wait.TotalMilliseconds;
                waiter = new Waiter(avoid, aborted, deadline);
                _waiting.AddLast(waiter);
                if (_sweep is null)
                {
                    // Not the arming request's ExecutionContext: the timer outlives it and runs other requests' ends.
                    using (ExecutionContext.SuppressFlow())
                    {
                        _sweep = new Timer(static state => ((WorkerDispatcher)state!).Sweep(), this, SweepInterval, SweepInterval);
                    }
                }
            }
        }
        EndWaits(gaveUp);
        return waiter is null ? ValueTask.FromResult<Slot?>(null) : new ValueTask<Slot?>(waiter.Task);
    }

    /// <summary>Ends the waits that ran out or whose client went away; disarms itself when nothing waits.</summary>
    private void Sweep()
    {
        List<Waiter>? gaveUp;
        lock (_gate)
        {
            gaveUp = RemoveGaveUp(Environment.TickCount64);
            if (_waiting.Count == 0)
            {
                _sweep?.Dispose();
                _sweep = null;
            }
        }
        EndWaits(gaveUp);
    }

    /// <summary>Takes the waiters that gave up out of the queue (under the lock); <see cref="EndWaits"/> answers them.</summary>
    private List<Waiter>? RemoveGaveUp(long now)
    {
        List<Waiter>? gaveUp = null;
        for (var node = _waiting.First; node is not null;)
        {
            var next = node.Next;
            if (node.Value.GaveUp(now))
            {
                _waiting.Remove(node);
                (gaveUp ??= []).Add(node.Value);
            }
            node = next;
        }
        return gaveUp;
    }

    /// <summary>Outside the lock: each continuation runs inline (a 503 written, or nothing for a client that left).</summary>
    private static void EndWaits(List<Waiter>? gaveUp)
    {
        foreach (var waiter in gaveUp ?? [])
        {
            waiter.TrySetResult(null);
        }
    }

    public void Release(Slot slot)
    {
        Served served;
        lock (_gate)
        {
            slot.InFlight--;
            served = ServeWaiting();
        }
        served.Complete(this);
    }

    /// <summary>Waiters given a slot (or null: they gave up) under the lock, completed after it is released (their
    /// continuations run inline).</summary>
    private readonly struct Served(Waiter? one, Slot? oneSlot, List<(Waiter, Slot?)>? more)
    {
        public Served Add(Waiter waiter, Slot? slot)
        {
            if (one is null)
            {
                return new Served(waiter, slot, null);
            }
            var list = more ?? [];
            list.Add((waiter, slot));
            return new Served(one, oneSlot, list);
        }

        public void Complete(WorkerDispatcher dispatcher)
        {
            if (one is not null)
            {
                dispatcher.Hand(one, oneSlot);
            }
            foreach (var (waiter, slot) in more ?? [])
            {
                dispatcher.Hand(waiter, slot);
            }
        }
    }

    /// <summary>Gives a waiter its slot, or (null) tells it that it gave up.</summary>
    private void Hand(Waiter waiter, Slot? slot)
    {
        if (!waiter.TrySetResult(slot) && slot is not null)
        {
            Release(slot); // the waiter gave up at the same moment: the slot goes to the next one
        }
    }

    private Served ServeWaiting()
    {
        var served = default(Served);
        var now = Environment.TickCount64;
        // In order, except that a retry never gets the worker its last attempt failed on (it may be dead and not
        // yet out of the routing table): it keeps its place until another worker frees up.
        for (var node = _waiting.First; node is not null;)
        {
            var next = node.Next;
            if (node.Value.GaveUp(now))
            {
                // Its client left (or its wait ran out) since the last sweep: no worker is spent on it.
                _waiting.Remove(node);
                served = served.Add(node.Value, null);
            }
            else if (TryTake(node.Value.Avoid) is { } free)
            {
                _waiting.Remove(node);
                served = served.Add(node.Value, free);
            }
            else if (node.Value.Avoid is null)
            {
                break; // no slot is free at all
            }
            node = next;
        }
        return served;
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
            // With a single worker there is nothing else to retry on: it is taken again (a replacement has a new key).
            if ((candidate == avoid && slots.Length > 1) || candidate.InFlight >= candidate.Endpoint.Concurrency)
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
