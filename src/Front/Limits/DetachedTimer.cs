namespace Gunicorn.Front.Limits;

/// <summary>
/// Timers that outlive the request (or operation) that happens to make them: made outside its ExecutionContext, so
/// they neither keep its AsyncLocals alive nor run their callbacks in its flow.
/// </summary>
public static class DetachedTimer
{
    public static ITimer Create(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        using (ExecutionContext.SuppressFlow())
        {
            return TimeProvider.System.CreateTimer(callback, state, dueTime, period);
        }
    }
}
