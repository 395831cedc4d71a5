using System.Runtime.InteropServices;

namespace Gunicorn.Shared.Platform;

/// <summary>
/// Linux's SCHED_BATCH policy for a worker: the same CPU share as the normal policy, but a worker woken by a request
/// does not preempt the thread that is running. On a machine the front shares with its workers, the front's event
/// thread then forwards the requests it has already read before the workers run, instead of being switched out in the
/// middle of its batch each time it hands one over (worker_batch_scheduling).
/// </summary>
public static partial class BatchScheduling
{
    private const int SchedOther = 0, SchedBatch = 3;

    [StructLayout(LayoutKind.Sequential)]
    private struct SchedParam
    {
        public int Priority; // 0: the only priority SCHED_BATCH has
    }

    [LibraryImport("libc", EntryPoint = "sched_setscheduler", SetLastError = true)]
    private static partial int SchedSetScheduler(int pid, int policy, ref SchedParam param);

    [LibraryImport("libc", EntryPoint = "sched_getscheduler", SetLastError = true)]
    private static partial int SchedGetScheduler(int pid);

    /// <summary>
    /// Puts every thread of this process under SCHED_BATCH (threads started later, and programs it executes, inherit
    /// it from their creator). A process the operator started under another policy (chrt, systemd's
    /// CPUSchedulingPolicy) keeps it. Returns null, or why it could not be done (no privilege is needed to move from
    /// the normal policy to SCHED_BATCH, but a seccomp filter or a sandbox without /proc may forbid it).
    /// </summary>
    public static string? ApplyToThisProcess()
    {
        if (SchedGetScheduler(0) != SchedOther)
        {
            return null;
        }
        try
        {
            // A thread started by one not yet switched while the list was read would be missed: read until a pass
            // finds no thread it has not seen.
            var done = new HashSet<int>();
            bool foundNew;
            do
            {
                foundNew = false;
                foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
                {
                    if (!int.TryParse(Path.GetFileName(task), out var tid) || !done.Add(tid))
                    {
                        continue;
                    }
                    foundNew = true;
                    var param = new SchedParam { Priority = 0 };
                    if (SchedSetScheduler(tid, SchedBatch, ref param) != 0 && Marshal.GetLastPInvokeError() is var error
                        && error != 3) // ESRCH: the thread ended meanwhile
                    {
                        return Marshal.GetPInvokeErrorMessage(error);
                    }
                }
            }
            while (foundNew);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return e.Message;
        }
    }

    /// <summary>Whether a thread runs under SCHED_BATCH (a process id names its main thread).</summary>
    public static bool IsApplied(int pid) => SchedGetScheduler(pid) == SchedBatch;
}
