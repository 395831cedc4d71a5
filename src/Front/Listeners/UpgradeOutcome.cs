namespace Gunicorn.Front.Listeners;

/// <summary>
/// Tells a connection's <see cref="ContentLengthGuard"/> what became of a request that may upgrade the connection:
/// the guard stops watching after a 101 (what follows is not HTTP/1) and goes on with the next request otherwise.
/// Only the response says which: Kestrel upgrades only when <c>Connection</c> names <c>upgrade</c> and the request has
/// no body, and then only if the app answers 101. A connection feature, set by the guard; the HTTP pipeline's first
/// middleware (<see cref="WatchResponse"/>) reports the status of the request the guard waits on.
/// </summary>
public sealed class UpgradeOutcome
{
    private const int None = 0;
    private const int Waiting = 1;
    private const int Refused = 2;
    private const int Taken = 3;

    private int _state;

    /// <summary>The guard paused after a head that may upgrade: the next response tells.</summary>
    internal void Wait() => Volatile.Write(ref _state, Waiting);

    /// <summary>True after a 101, false after any other status, null while the response has not started.</summary>
    internal bool? TakeDecision()
    {
        var state = Volatile.Read(ref _state);
        if (state is not (Refused or Taken))
        {
            return null;
        }
        Volatile.Write(ref _state, None);
        return state == Taken;
    }

    /// <summary>For a request the guard waits on (no cost for any other), reports its status when the response starts.</summary>
    public static void WatchResponse(HttpContext context)
    {
        if (context.Features.Get<UpgradeOutcome>() is { } outcome && Volatile.Read(ref outcome._state) == Waiting)
        {
            context.Response.OnStarting(static state =>
            {
                var (outcome, response) = ((UpgradeOutcome, HttpResponse))state;
                Interlocked.CompareExchange(ref outcome._state, response.StatusCode == StatusCodes.Status101SwitchingProtocols ? Taken : Refused, Waiting);
                return Task.CompletedTask;
            }, (outcome, context.Response));
        }
    }
}
