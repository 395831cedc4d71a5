using Gunicorn.Backend.Logging;

namespace Gunicorn.Front.Hosting;

/// <summary>gunicorn's pidfile: written at start, removed at exit (only if it still holds our pid).</summary>
public sealed class PidFile : IDisposable
{
    private readonly string _path;

    private PidFile(string path) => _path = path;

    public static PidFile Create(string path)
    {
        // Written aside and renamed into place, so a reader never sees an empty or partial file (gunicorn does too).
        var temporary = $"{path}.{Environment.ProcessId}.tmp";
        File.WriteAllText(temporary, $"{Environment.ProcessId}\n");
        File.Move(temporary, path, overwrite: true);
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
