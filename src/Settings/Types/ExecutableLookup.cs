namespace Gunicorn.Settings.Types;

/// <summary>Finds a program the way a shell would: a path with a slash as is, otherwise on PATH.</summary>
public static class ExecutableLookup
{
    public static string? Find(string program, string baseDirectory)
    {
        if (program.Contains('/'))
        {
            var path = Path.GetFullPath(program, baseDirectory);
            return IsExecutable(path) ? path : null;
        }
        var searchPath = Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin";
        return searchPath.Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, program))
            .FirstOrDefault(IsExecutable);
    }

    private static bool IsExecutable(string path) =>
        File.Exists(path)
        && (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
}
