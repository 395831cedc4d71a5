using Gunicorn.Shared.Contract;
using Gunicorn.Settings.Platform;
using Gunicorn.Settings.Records;

namespace Gunicorn.Backend.Platform;

/// <summary>Resolves the configured user and group to the ids workers switch to (the worker applies them: Identity).</summary>
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

    private static uint CurrentUid() => uint.Parse(File.ReadAllLines("/proc/self/status")
        .First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1]);
}
