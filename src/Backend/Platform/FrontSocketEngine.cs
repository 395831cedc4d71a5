using System.Diagnostics;

namespace Gunicorn.Backend.Platform;

/// <summary>
/// How the master's sockets are served, set before its first socket (the runtime reads both switches once):
/// <list type="bullet">
/// <item>Completions run on the runtime's epoll threads instead of being queued to the thread pool, and with Kestrel's
/// inline scheduling a proxied request is parsed, forwarded and answered in the wake-up its socket caused, as in
/// nginx's event loop. The front never blocks in a completion.</item>
/// <item>One event thread per two cores (at least one): the other half of the machine is the workers'. On this
/// project's 2-core reference machine one thread batches more events per wake-up than two: Flask hello 18% more
/// requests/s at 40% less front CPU per request, a pure-WSGI hello 17% fewer requests/s (docs/benchmarks.md).</item>
/// </list>
/// An operator's own value of either variable wins; the master's children (apps we do not know) get the environment the
/// operator gave.
/// </summary>
public static class FrontSocketEngine
{
    public const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
    public const string ThreadCount = "DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT";

    private static readonly List<string> SetHere = [];

    /// <summary>Sets both switches for this process, unless the operator chose a value.</summary>
    public static void EnableForMaster()
    {
        SetUnlessGiven(InlineCompletions, "1");
        SetUnlessGiven(ThreadCount, Math.Max(1, Environment.ProcessorCount / 2).ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Keeps a child's environment as the operator had it.</summary>
    public static void RemoveFrom(ProcessStartInfo child)
    {
        foreach (var variable in SetHere)
        {
            child.Environment.Remove(variable);
        }
    }

    private static void SetUnlessGiven(string variable, string value)
    {
        if (Environment.GetEnvironmentVariable(variable) is null)
        {
            Environment.SetEnvironmentVariable(variable, value);
            SetHere.Add(variable);
        }
    }
}
