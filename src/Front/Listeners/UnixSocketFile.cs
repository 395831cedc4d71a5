using System.Net.Sockets;

namespace Gunicorn.Front.Listeners;

/// <summary>
/// Binding a Unix socket so that its path stays ours to remove. .NET's <see cref="Socket.Dispose()"/> unlinks the path
/// the socket was bound to, even when another process has since bound a fresh socket there (USR2's new master takes
/// over the same paths). Binding to a temporary name and renaming it into place leaves .NET nothing to unlink; the
/// owner removes the path itself, and only while it still holds the socket it created.
/// </summary>
public static class UnixSocketFile
{
    /// <summary>
    /// Binds and listens at a temporary name, sets <paramref name="mode"/>, then renames into place (replacing what was
    /// there); returns the file's mtime as its identity.
    /// </summary>
    public static DateTime BindAndListen(Socket socket, string path, int backlog, UnixFileMode? mode = null)
    {
        var temporary = $"{path}.{Environment.ProcessId}.tmp";
        File.Delete(temporary);
        socket.Bind(new UnixDomainSocketEndPoint(temporary));
        socket.Listen(backlog);
        if (mode is { } permissions)
        {
            File.SetUnixFileMode(temporary, permissions);
        }
        File.Move(temporary, path, overwrite: true);
        return File.GetLastWriteTimeUtc(path);
    }

    /// <summary>Removes <paramref name="path"/> if it is still the socket bound at <paramref name="boundAt"/>.</summary>
    public static void RemoveIfOurs(string path, DateTime boundAt)
    {
        if (File.Exists(path) && File.GetLastWriteTimeUtc(path) == boundAt)
        {
            File.Delete(path);
        }
    }
}
