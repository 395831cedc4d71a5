namespace Gunicorn.Front.Limits;

/// <summary>
/// The longest one pending operation may wait (a flush to a client, a read of a client's body): an operation that
/// completes at once arms nothing; one that outlasts <paramref name="limit"/> runs <paramref name="expired"/> once,
/// which ends it (by closing the connection). One operation at a time, as pipes and request bodies allow.
/// </summary>
public sealed class PendingLimit(TimeSpan limit, Action expired) : IDisposable
{
    private ITimer? _timer; // made at the first operation that has to wait: most connections never need one
    private int _waiting;
    private long _deadline; // Environment.TickCount64 at which the waiting operation's limit ends

    public ValueTask<T> Time<T>(ValueTask<T> operation) => operation.IsCompleted ? operation : TimedAsync(operation);

    private async ValueTask<T> TimedAsync<T>(ValueTask<T> operation)
    {
        var timer = _timer ??= DetachedTimer.Create(static state => ((PendingLimit)state!).Fired(), this,
            Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        Volatile.Write(ref _deadline, Environment.TickCount64 + (long)Math.Ceiling(limit.TotalMilliseconds));
        Volatile.Write(ref _waiting, 1);
        timer.Change(limit, Timeout.InfiniteTimeSpan);
        try
        {
            return await operation;
        }
        finally
        {
            Volatile.Write(ref _waiting, 0);
            timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    private void Fired()
    {
        if (Volatile.Read(ref _waiting) == 0)
        {
            return; // the operation completed while the timer fired
        }
        // A fire meant for an operation that has since completed may run while the next one waits: that one's own
        // deadline decides (its _deadline is written before its _waiting).
        var left = Volatile.Read(ref _deadline) - Environment.TickCount64;
        if (left > 0)
        {
            _timer?.Change(TimeSpan.FromMilliseconds(left), Timeout.InfiniteTimeSpan);
            return;
        }
        if (Interlocked.Exchange(ref _waiting, 0) == 1)
        {
            expired();
        }
    }

    public void Dispose() => _timer?.Dispose();
}
