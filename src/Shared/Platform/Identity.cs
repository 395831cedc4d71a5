using System.Runtime.InteropServices;
using Gunicorn.Shared.Contract;

namespace Gunicorn.Shared.Platform;

/// <summary>Switches a worker to the user and group it runs as (gunicorn's user, group, initgroups).</summary>
public static class Identity
{
    /// <summary>Groups, then gid, then uid (after setuid nothing else is allowed).</summary>
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
}
