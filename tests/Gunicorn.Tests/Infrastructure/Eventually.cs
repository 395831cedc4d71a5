using System.Diagnostics;

namespace Gunicorn.Tests.Infrastructure;

/// <summary>Waits for a condition with a deadline, polling; never a fixed sleep. Fails with the caller's description.</summary>
public static class Eventually
{
    /// <summary>How often a condition is polled while its deadline has not passed.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(25);

    public static async Task<T> Get<T>(Func<Task<T?>> probe, TimeSpan deadline, string what) where T : class
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            if (await probe() is { } value)
            {
                return value;
            }
            if (watch.Elapsed > deadline)
            {
                throw new TimeoutException($"Timed out after {deadline.TotalSeconds:0.#} s waiting for {what}.");
            }
            await Task.Delay(PollInterval);
        }
    }

    public static Task True(Func<bool> condition, TimeSpan deadline, string what) =>
        Get<object>(() => Task.FromResult(condition() ? new object() : null), deadline, what);

    public static Task True(Func<Task<bool>> condition, TimeSpan deadline, string what) =>
        Get<object>(async () => await condition() ? new object() : null, deadline, what);
}
