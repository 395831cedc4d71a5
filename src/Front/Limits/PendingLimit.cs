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

    public ValueTask<T> Time<T>(ValueTask<T> operation) => operation.IsCompleted ? operation : TimedAsync(operation);

    private async ValueTask<T> TimedAsync<T>(ValueTask<T> operation)
    {
        var timer = _timer ??= TimeProvider.System.CreateTimer(static state => ((PendingLimit)state!).Fired(), this,
            Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
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
        if (Interlocked.Exchange(ref _waiting, 0) == 1)
        {
            expired(); // not when the operation completed while the timer fired
        }
    }

    public void Dispose() => _timer?.Dispose();
}
