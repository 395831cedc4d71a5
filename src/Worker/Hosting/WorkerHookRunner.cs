using Gunicorn.Shared.Contract;
using Gunicorn.Shared.Hooks;
using Gunicorn.Shared.Logging;

namespace Gunicorn.Worker.Hosting;

/// <summary>Runs the worker's own hooks: commands with the worker described in GUNICORN_* variables, or Python callables.</summary>
internal sealed class WorkerHookRunner(WorkerStartInfo info)
{
    private readonly HookRunner _runner = new(info.Hooks.TimeoutSeconds);

    private readonly Dictionary<string, string> _variables = new()
    {
        ["GUNICORN_MASTER_PID"] = info.MasterPid.ToString(),
        ["GUNICORN_WORKER_PID"] = Environment.ProcessId.ToString(),
        ["GUNICORN_WORKER_AGE"] = info.Age.ToString(),
    };

    public WorkerHooks Hooks => info.Hooks;

    /// <summary>Runs a python:module:function hook inside the app's interpreter; set once a Python app is loaded.</summary>
    public Action<string>? PythonHook { get; set; }

    public void Run(string name, HookCommand? hook)
    {
        if (hook?.Kind == HookKind.Python)
        {
            if (PythonHook is null)
            {
                ErrorLog.Warning($"Hook {name} ({hook.Text}) is a Python callable, but this worker's app is not a Python app; skipped.");
                return;
            }
            PythonHook(name);
            return;
        }
        _runner.Run(name, hook, _variables);
    }
}
