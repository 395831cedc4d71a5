using System.Diagnostics;
using Gunicorn.Shared.Logging;
using Gunicorn.Shared.Contract;

namespace Gunicorn.Shared.Hooks;

/// <summary>
/// Runs command hooks: no shell, the event in GUNICORN_* variables, killed after hook_timeout. Python hooks
/// (<c>python:module:function</c>) run inside the app's interpreter, not here.
/// </summary>
/// <param name="prepare">Adjusts each hook's environment (the master applies raw_env of the hook's configuration).</param>
public sealed class HookRunner(double timeoutSeconds, Action<ProcessStartInfo>? prepare = null)
{
    /// <summary>
    /// Runs the hook if set and waits for it, as gunicorn does; returns false when it failed (exit code, timeout or
    /// not startable). Blocking is deliberate: hooks order the master's actions (pre_fork before the spawn).
    /// </summary>
    public bool Run(string name, HookCommand? hook, IReadOnlyDictionary<string, string>? variables = null)
    {
        if (hook is null || hook.Kind != HookKind.Command)
        {
            return true;
        }
        var start = new ProcessStartInfo(hook.Argv[0]) { UseShellExecute = false };
        foreach (var arg in hook.Argv.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }
        prepare?.Invoke(start);
        start.Environment["GUNICORN_HOOK"] = name;
        start.Environment["GUNICORN_MASTER_PID"] = Environment.ProcessId.ToString();
        foreach (var (key, value) in variables ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }
        try
        {
            using var process = Process.Start(start)!;
            if (!process.WaitForExit(TimeSpan.FromSeconds(timeoutSeconds)))
            {
                process.Kill(entireProcessTree: true);
                ErrorLog.Error($"Hook {name} ({hook.Text}) did not finish within hook_timeout ({timeoutSeconds}s) and was killed.");
                return false;
            }
            if (process.ExitCode != 0)
            {
                ErrorLog.Error($"Hook {name} ({hook.Text}) failed with exit code {process.ExitCode}.");
                return false;
            }
            return true;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or IOException)
        {
            ErrorLog.Error($"Hook {name} ({hook.Text}) could not start: {e.Message}");
            return false;
        }
    }
}
