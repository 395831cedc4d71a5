namespace Gunicorn.Tests.Infrastructure;

/// <summary>
/// A folder with a hook script that appends "$GUNICORN_HOOK $VARIABLE" to a record file, and a gunicorn.yaml that
/// names it for the given hooks.
/// </summary>
public sealed class HookRecorder
{
    public string Directory { get; }
    public string RecordPath { get; }

    public HookRecorder(IEnumerable<string> hooks, string variable)
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("gunicorn-net-hooks-").FullName;
        RecordPath = Path.Combine(Directory, "hooks.log");
        var script = Path.Combine(Directory, "hook.sh");
        File.WriteAllText(script, $"#!/bin/sh\necho \"$GUNICORN_HOOK ${variable}\" >> {RecordPath}\n");
        File.SetUnixFileMode(script, (UnixFileMode)Convert.ToInt32("755", 8));
        File.WriteAllText(Path.Combine(Directory, "gunicorn.yaml"), string.Concat(hooks.Select(h => $"{h}: ./hook.sh\n")));
    }

    public string Text => File.Exists(RecordPath) ? File.ReadAllText(RecordPath) : "";

    public IReadOnlyList<string> Lines => File.Exists(RecordPath) ? File.ReadAllLines(RecordPath).Select(l => l.Trim()).ToList() : [];
}
