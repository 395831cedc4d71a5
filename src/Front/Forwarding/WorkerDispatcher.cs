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
    /// How often waiting requests are checked for a wait that ran out or a client that went away. One timer for the
    /// whole queue, armed only while something waits: under load most requests wait a little (32 clients, 5 sync
    /// workers), and a timer and two cancellation registrations each cost more than the rest of the queueing.
    /// </summary>
    internal static readonly TimeSpan SweepInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>Waiters kept for reuse once their request has its answer (beyond this, they are left to the GC).</summary>
    private const int PooledWaiters = 256;

    private readonly WaiterQueue _waiting = new();
    private readonly Stack<Waiter> _pool = new();
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
        Waiter? served;
        lock (_gate)
        {
            // Keep the counters of workers that stay: they still have requests in flight.
            var current = _slots.ToDictionary(s => s.Key);
            _slots = ready.Select(w => current.TryGetValue(w.Key, out var slot) ? slot : new Slot(w)).ToArray();
            served = ServeWaiting();
        }
        Complete(served);
    }

    /// <summary>
    /// A slot on a free worker, waiting up to <paramref name="wait"/> (give or take <see cref="SweepInterval"/>) when all
    /// are busy or none is ready. Null when the queue is full, the wait ran out or the client went away.
    /// <paramref name="avoid"/> is skipped (a retry). The result is awaited once (its waiter is reused afterwards).
    /// </summary>
    public ValueTask<Slot?> AcquireAsync(TimeSpan wait, CancellationToken aborted, Slot? avoid = null)
    {
        Waiter? waiter = null;
        Waiter? gaveUp = null;
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
                waiter = _pool.TryPop(out var pooled) ? pooled : new Waiter(this);
                waiter.Start(avoid, aborted, deadline);
                _waiting.Add(waiter);
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
        Complete(gaveUp);
        return waiter is null ? ValueTask.FromResult<Slot?>(null) : waiter.AsValueTask();
    }

    /// <summary>Ends the waits that ran out or whose client went away; disarms itself when nothing waits.</summary>
    private void Sweep()
    {
        Waiter? gaveUp;
        lock (_gate)
        {
            gaveUp = RemoveGaveUp(Environment.TickCount64);
            if (_waiting.Count == 0)
            {
                _sweep?.Dispose();
                _sweep = null;
            }
        }
        Complete(gaveUp);
    }

    /// <summary>Takes the waiters that gave up out of the queue (under the lock), chained for <see cref="Complete"/>.</summary>
    private Waiter? RemoveGaveUp(long now)
    {
        var chain = new Chain();
        for (var waiter = _waiting.First; waiter is not null;)
        {
            var next = waiter.Next;
            if (waiter.GaveUp(now))
            {
                _waiting.Remove(waiter);
                chain.Add(waiter, null);
            }
            waiter = next;
        }
        return chain.First;
    }

    public void Release(Slot slot)
    {
        Waiter? served;
        lock (_gate)
        {
            slot.InFlight--;
            served = ServeWaiting();
        }
        Complete(served);
    }

    /// <summary>
    /// Outside the lock: gives each waiter of the chain its slot, or (none) tells it that it gave up. Continuations run
    /// inline: the waiting request goes on in this thread (it writes its head to the worker and awaits the answer), or
    /// writes its 503, or does nothing for a client that left.
    /// </summary>
    private static void Complete(Waiter? chain)
    {
        while (chain is not null)
        {
            var next = chain.NextServed;
            chain.NextServed = null;
            chain.Complete();
            chain = next;
        }
    }

    private Waiter? ServeWaiting()
    {
        var chain = new Chain();
        var now = Environment.TickCount64;
        // In order, except that a retry never gets the worker its last attempt failed on (it may be dead and not
        // yet out of the routing table): it keeps its place until another worker frees up.
        for (var waiter = _waiting.First; waiter is not null;)
        {
            var next = waiter.Next;
            if (waiter.GaveUp(now))
            {
                // Its client left (or its wait ran out) since the last sweep: no worker is spent on it.
                _waiting.Remove(waiter);
                chain.Add(waiter, null);
            }
            else if (TryTake(waiter.Avoid) is { } free)
            {
                _waiting.Remove(waiter);
                chain.Add(waiter, free);
            }
            else if (waiter.Avoid is null)
            {
                break; // no slot is free at all
            }
            waiter = next;
        }
        return chain.First;
    }

    private void Recycle(Waiter waiter)
    {
        lock (_gate)
        {
            if (_pool.Count < PooledWaiters)
            {
                _pool.Push(waiter);
            }
        }
    }

    /// <summary>Waiters taken out of the queue under the lock, to be completed after it is released.</summary>
    private struct Chain
    {
        public Waiter? First;
        private Waiter? _last;

        public void Add(Waiter waiter, Slot? given)
        {
            waiter.Given = given;
            if (_last is null)
            {
                First = waiter;
            }
            else
            {
                _last.NextServed = waiter;
            }
            _last = waiter;
        }
    }

    /// <summary>
    /// A request waiting for a slot, the worker it must not get (the one its last attempt failed on), and when it gives
    /// up. Its own awaitable, reused: a wait allocates nothing once the pool holds enough waiters. Linked into the queue
    /// and into a chain of completions through its own fields. Taken out of the queue under the lock exactly once, so
    /// completed exactly once; back to the pool when its request has read the result.
    /// </summary>
    private sealed class Waiter(WorkerDispatcher owner) : System.Threading.Tasks.Sources.IValueTaskSource<Slot?>
    {
        // Continuations run inline (RunContinuationsAsynchronously is false): no hop to another thread.
        private System.Threading.Tasks.Sources.ManualResetValueTaskSourceCore<Slot?> _core;
        private CancellationToken _aborted;
        private long _deadline;

        public Slot? Avoid { get; private set; }
        public Waiter? Previous { get; set; }
        public Waiter? Next { get; set; }
        public Waiter? NextServed { get; set; }
        public Slot? Given { get; set; }

        public void Start(Slot? avoid, CancellationToken aborted, long deadline)
        {
            Avoid = avoid;
            _aborted = aborted;
            _deadline = deadline;
        }

        public bool GaveUp(long now) => now >= _deadline || _aborted.IsCancellationRequested;

        public ValueTask<Slot?> AsValueTask() => new(this, _core.Version);

        public void Complete()
        {
            var given = Given;
            Given = null;
            _core.SetResult(given);
        }

        public Slot? GetResult(short token)
        {
            var slot = _core.GetResult(token);
            _core.Reset();
            Avoid = null;
            _aborted = default;
            owner.Recycle(this);
            return slot;
        }

        public System.Threading.Tasks.Sources.ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token,
            System.Threading.Tasks.Sources.ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }

    /// <summary>The waiting requests in order, linked through their own fields (no node per wait).</summary>
    private sealed class WaiterQueue
    {
        public Waiter? First { get; private set; }
        private Waiter? _last;

        public int Count { get; private set; }

        public void Add(Waiter waiter)
        {
            waiter.Previous = _last;
            waiter.Next = null;
            if (_last is null)
            {
                First = waiter;
            }
            else
            {
                _last.Next = waiter;
            }
            _last = waiter;
            Count++;
        }

        public void Remove(Waiter waiter)
        {
            if (waiter.Previous is null)
            {
                First = waiter.Next;
            }
            else
            {
                waiter.Previous.Next = waiter.Next;
            }
            if (waiter.Next is null)
            {
                _last = waiter.Previous;
            }
            else
            {
                waiter.Next.Previous = waiter.Previous;
            }
            waiter.Previous = waiter.Next = null;
            Count--;
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
