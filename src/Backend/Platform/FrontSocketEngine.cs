using System.Diagnostics;
using System.Globalization;

namespace Gunicorn.Backend.Platform;

/// <summary>
/// How the master's sockets are served, set before its first socket (the runtime reads both switches once):
/// <list type="bullet">
/// <item>Completions run on the runtime's epoll threads instead of being queued to the thread pool, and with Kestrel's
/// inline scheduling a proxied request is parsed, forwarded and answered in the wake-up its socket caused, as in
/// nginx's event loop. The front never blocks in a completion.</item>
/// <item>As many event threads as <c>front_threads</c> says; <c>auto</c> is one per two cores (at least one): the
/// other half of the machine is the workers'. On this project's 2-core reference machine one thread batches more
/// events per wake-up than two: Flask hello 18% more requests/s at 40% less front CPU per request, a pure-WSGI hello
/// 17% fewer requests/s; a front serving static files itself does better with two (docs/benchmarks.md).</item>
/// </list>
/// An operator's own value of either variable wins unless <c>front_threads</c> names a count; the master's children
/// (apps we do not know) get the environment the operator gave.
/// </summary>
public static class FrontSocketEngine
{
    public const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
    public const string ThreadCount = "DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT";

    /// <summary>Each variable set here, with the operator's own value (null when there was none).</summary>
    private static readonly Dictionary<string, string?> OperatorValues = [];

    /// <summary>Inline completions for this process, unless the operator chose otherwise; first thing at start.</summary>
    public static void EnableForMaster() => SetUnlessGiven(InlineCompletions, "1");

    /// <summary>
    /// The number of event threads (<c>front_threads</c>; null is <c>auto</c>). Called once the configuration is
    /// known and before the master's first socket: the runtime reads it when its socket engine starts, never again.
    /// </summary>
    public static void UseEventThreads(int? count)
    {
        var threads = EventThreadsFor(count);
        var value = threads.ToString(CultureInfo.InvariantCulture);
        if (count is null)
        {
            SetUnlessGiven(ThreadCount, value);
        }
        else if (Environment.GetEnvironmentVariable(ThreadCount) != value)
        {
            Set(ThreadCount, value);
        }
        EventThreads = threads;
    }

    /// <summary>The event threads this master runs; null until <see cref="UseEventThreads"/> set them.</summary>
    public static int? EventThreads { get; private set; }

    /// <summary>
    /// The event threads a <c>front_threads</c> value means here: the count, or under <c>auto</c> the operator's own
    /// variable when it holds one, else one per two cores (at least one).
    /// </summary>
    public static int EventThreadsFor(int? count) =>
        count ?? (int.TryParse(OperatorValue(ThreadCount), NumberStyles.None, CultureInfo.InvariantCulture, out var given) && given > 0
            ? given
            : Math.Max(1, Environment.ProcessorCount / 2));

    private static string? OperatorValue(string variable) =>
        OperatorValues.TryGetValue(variable, out var original) ? original : Environment.GetEnvironmentVariable(variable);

    /// <summary>Keeps a child's environment as the operator had it.</summary>
    public static void RemoveFrom(ProcessStartInfo child)
    {
        foreach (var (variable, operatorValue) in OperatorValues)
        {
            if (operatorValue is null)
            {
                child.Environment.Remove(variable);
            }
            else
            {
                child.Environment[variable] = operatorValue;
            }
        }
    }

    private static void SetUnlessGiven(string variable, string value)
    {
        if (Environment.GetEnvironmentVariable(variable) is null)
        {
            Set(variable, value);
        }
    }

    /// <summary>Sets a variable for this process only; <see cref="RemoveFrom"/> restores the operator's environment for children.</summary>
    private static void Set(string variable, string value)
    {
        OperatorValues.TryAdd(variable, Environment.GetEnvironmentVariable(variable));
        Environment.SetEnvironmentVariable(variable, value);
    }
}
