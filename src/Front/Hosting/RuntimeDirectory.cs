namespace Gunicorn.Front.Hosting;

/// <summary>The master's private directory (mode 0700) holding the workers' Unix sockets; removed on exit.</summary>
public sealed class RuntimeDirectory : IDisposable
{
    public string Path { get; }

    private RuntimeDirectory(string path) => Path = path;

    public static RuntimeDirectory Create(string? parent)
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
        var root = parent ?? (xdg is { Length: > 0 } && Directory.Exists(xdg) ? xdg : System.IO.Path.GetTempPath());
        var path = System.IO.Path.Combine(root, $"gunicorn-net-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
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
