using Gunicorn.Backend.Logging;

namespace Gunicorn.Front.Hosting;

/// <summary>gunicorn's pidfile: written at start, removed at exit (only if it still holds our pid).</summary>
public sealed class PidFile : IDisposable
{
    private readonly string _path;

    private PidFile(string path) => _path = path;

    public static PidFile Create(string path)
    {
        File.WriteAllText(path, $"{Environment.ProcessId}\n");
        return new PidFile(path);
    }

    public void Dispose()
    {
        try
        {
            if (File.Exists(_path) && File.ReadAllText(_path).Trim() == Environment.ProcessId.ToString())
            {
                File.Delete(_path);
            }
        }
        catch (IOException e)
        {
            ErrorLog.Warning($"Could not remove pidfile {_path}: {e.Message}");
        }
    }
}
