using Gunicorn.Shared.Contract;
using Gunicorn.Backend.Platform;
using Gunicorn.Shared.Platform;

namespace Gunicorn.Front.Hosting;

/// <summary>The master's private directory (mode 0700) holding the workers' Unix sockets; removed on exit.</summary>
public sealed class RuntimeDirectory : IDisposable
{
    public string Path { get; }

    private RuntimeDirectory(string path) => Path = path;

    /// <param name="owner">When workers run as another user, they own the directory so they can create their sockets.</param>
    public static RuntimeDirectory Create(string? parent, WorkerIdentity? owner)
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
        var root = parent ?? (xdg is { Length: > 0 } && Directory.Exists(xdg) ? xdg : System.IO.Path.GetTempPath());
        var path = System.IO.Path.Combine(root, $"gunicorn-net-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        if (owner is not null && Posix.Chown(path, owner.Uid, owner.Gid) != 0)
        {
            throw new UnauthorizedAccessException(
                $"cannot give {path} to uid {owner.Uid}: {System.Runtime.InteropServices.Marshal.GetLastPInvokeErrorMessage()}. Run the master as root to use user/group.");
        }
        return new RuntimeDirectory(path);
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
