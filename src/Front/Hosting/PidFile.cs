using Gunicorn.Shared.Logging;

namespace Gunicorn.Front.Hosting;

/// <summary>gunicorn's pidfile: written at start, removed at exit (only if it still holds our pid).</summary>
public sealed class PidFile : IDisposable
{
    private readonly string _path;
    private readonly Lock _gate = new();
    private string _current;

    private PidFile(string path) => _current = _path = path;

    public static PidFile Create(string path)
    {
        // Written aside and renamed into place, so a reader never sees an empty or partial file (gunicorn does too).
        var temporary = $"{path}.{Environment.ProcessId}.tmp";
        File.WriteAllText(temporary, $"{Environment.ProcessId}\n");
        File.Move(temporary, path, overwrite: true);
        return new PidFile(path);
    }

    /// <summary>USR2: the file becomes <c>PATH.oldbin</c>, leaving PATH to the new master (gunicorn's naming).</summary>
    public void MoveAside() => Move(_path + ".oldbin");

    /// <summary>The new master failed: this master's pid is at PATH again.</summary>
    public void MoveBack() => Move(_path);

    private void Move(string destination)
    {
        lock (_gate)
        {
            try
            {
                if (_current != destination && IsOurs(_current))
                {
                    // Back at PATH only once the new master has exited: whatever pid it left there is stale.
                    File.Move(_current, destination, overwrite: true);
                }
                _current = destination;
            }
            catch (IOException e)
            {
                ErrorLog.Warning($"Could not rename pidfile {_current} to {destination}: {e.Message}");
            }
        }
    }

    private static bool IsOurs(string path) => File.Exists(path) && File.ReadAllText(path).Trim() == Environment.ProcessId.ToString();

    public void Dispose()
    {
        try
        {
            if (IsOurs(_current))
            {
                File.Delete(_current);
            }
        }
        catch (IOException e)
        {
            ErrorLog.Warning($"Could not remove pidfile {_current}: {e.Message}");
        }
    }
}
