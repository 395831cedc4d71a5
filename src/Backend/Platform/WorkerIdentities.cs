using System.Runtime.InteropServices;
using Gunicorn.Backend.Contract;
using Gunicorn.Settings.Platform;
using Gunicorn.Settings.Records;

namespace Gunicorn.Backend.Platform;

/// <summary>Resolves the configured user and group to the ids workers switch to, and applies them in the worker.</summary>
public static class WorkerIdentities
{
    public static WorkerIdentity? From(WorkerPoolConfig pool)
    {
        if (pool.User is null && pool.Group is null)
        {
            return null;
        }
        // The config resolver has already checked that both exist.
        var user = pool.User is null ? null : UserDatabase.FindUser(pool.User);
        var uid = user?.Uid ?? CurrentUid();
        var gid = pool.Group is null ? user!.Gid : UserDatabase.FindGroup(pool.Group)!.Value;
        return new WorkerIdentity(user?.Name ?? "", uid, gid, pool.InitGroups && user is not null);
    }

    /// <summary>Switches this process to the identity: groups, then gid, then uid (after setuid nothing else is allowed).</summary>
    public static void Apply(WorkerIdentity identity)
    {
        var groups = identity.InitGroups
            ? Posix.InitGroups(identity.UserName, identity.Gid)
            : Posix.SetGroups(0, null);
        Check(groups, "set supplementary groups");
        Check(Posix.SetGid(identity.Gid), $"setgid({identity.Gid})");
        Check(Posix.SetUid(identity.Uid), $"setuid({identity.Uid})");
    }

    private static void Check(int result, string what)
    {
        if (result != 0)
        {
            throw new UnauthorizedAccessException(
                $"cannot {what}: {Marshal.GetLastPInvokeErrorMessage()}. Only a master started as root can run workers as another user.");
        }
    }

    private static uint CurrentUid() => uint.Parse(File.ReadAllLines("/proc/self/status")
        .First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1]);
}
