using System.Diagnostics;

namespace Gunicorn.Backend.Platform;

/// <summary>
/// The front's socket completions run on the runtime's epoll threads instead of being queued to the thread pool: a
/// proxied request then wakes one thread less in the master (measured 5-10% less front CPU per request; see
/// docs/benchmarks.md). The front never blocks in a completion. The runtime reads the switch once, at its first
/// socket, so the master sets it first thing; its children (apps we do not know) get the environment the operator gave.
/// </summary>
public static class InlineSocketCompletions
{
    public const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    private static bool _setHere;

    /// <summary>Turns the switch on for this process unless the operator chose a value.</summary>
    public static void EnableForMaster()
    {
        if (Environment.GetEnvironmentVariable(Variable) is null)
        {
            Environment.SetEnvironmentVariable(Variable, "1");
            _setHere = true;
        }
    }

    /// <summary>Keeps a child's environment as the operator had it.</summary>
    public static void RemoveFrom(ProcessStartInfo child)
    {
        if (_setHere)
        {
            child.Environment.Remove(Variable);
        }
    }
}
