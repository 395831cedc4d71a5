using Gunicorn.Shared.Contract;
using Gunicorn.Backend.Platform;
using Gunicorn.Shared.Platform;

namespace Gunicorn.Front.Hosting;

/// <summary>
/// The master's private directory (mode 0700) holding the workers' Unix sockets; removed on exit. A master that
/// could not remove it (SIGKILL, OOM kill, power loss) leaves it behind: the next master sweeps those of dead masters.
/// </summary>
public sealed class RuntimeDirectory : IDisposable
{
    private const string Prefix = "gunicorn-net-";

    public string Path { get; }

    private RuntimeDirectory(string path) => Path = path;

    /// <summary>
    /// worker_tmp_dir when set, else systemd's RuntimeDirectory= ($RUNTIME_DIRECTORY), else $XDG_RUNTIME_DIR, else the
    /// temporary directory.
    /// </summary>
    public static string Root(string? parent)
    {
        if (parent is not null)
        {
            return parent;
        }
        foreach (var variable in new[] { "RUNTIME_DIRECTORY", "XDG_RUNTIME_DIR" })
        {
            // systemd may list several directories, separated by ':'; the first is ours.
            if (Environment.GetEnvironmentVariable(variable)?.Split(':')[0] is { Length: > 0 } candidate && Directory.Exists(candidate))
            {
                return candidate;
            }
        }
        return System.IO.Path.GetTempPath();
    }

    /// <param name="owner">When workers run as another user, they own the directory so they can create their sockets.</param>
    public static RuntimeDirectory Create(string? parent, WorkerIdentity? owner)
    {
        var root = Root(parent);
        SweepDeadMasters(root);
        var path = System.IO.Path.Combine(root, $"{Prefix}{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        if (owner is not null && Posix.Chown(path, owner.Uid, owner.Gid) != 0)
        {
            throw new UnauthorizedAccessException(
                $"cannot give {path} to uid {owner.Uid}: {System.Runtime.InteropServices.Marshal.GetLastPInvokeErrorMessage()}. Run the master as root to use user/group.");
        }
        return new RuntimeDirectory(path);
    }

    /// <summary>
    /// Removes the runtime directories that masters left when they died without cleaning up: named
    /// gunicorn-net-PID-XXXXXXXX with no gunicorn-net process PID alive (a pid reused by another program does not
    /// keep it). Only what this user may delete goes: in a sticky temporary directory, the kernel allows only its own.
    /// </summary>
    public static int SweepDeadMasters(string root)
    {
        var swept = 0;
        IEnumerable<string> candidates;
        try
        {
            candidates = Directory.EnumerateDirectories(root, Prefix + "*").ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
        foreach (var directory in candidates)
        {
            var name = System.IO.Path.GetFileName(directory);
            var parts = name[Prefix.Length..].Split('-');
            if (parts.Length != 2 || parts[1].Length != 8 || !int.TryParse(parts[0], out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }
            try
            {
                if (IsMaster(pid))
                {
                    continue;
                }
                Directory.Delete(directory, recursive: true);
                swept++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Another master is sweeping too, or it is not ours to remove.
            }
        }
        if (swept > 0)
        {
            Gunicorn.Shared.Logging.ErrorLog.Info($"Removed {swept} runtime director{(swept == 1 ? "y" : "ies")} left in {root} by masters that were killed");
        }
        return swept;
    }

    /// <summary>Whether <paramref name="pid"/> is alive and a gunicorn-net master (a reused pid running something else is not).</summary>
    private static bool IsMaster(int pid)
    {
        try
        {
            var commandLine = File.ReadAllText($"/proc/{pid}/cmdline");
            return commandLine.Contains("gunicorn-net", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return true; // alive, and not ours to judge
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }
}
