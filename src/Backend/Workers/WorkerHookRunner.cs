using Gunicorn.Backend.Contract;
using Gunicorn.Backend.Hooks;
using Gunicorn.Settings.Types;

namespace Gunicorn.Backend.Workers;

/// <summary>Runs the worker's own hooks with the worker described in GUNICORN_* variables.</summary>
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

    public void Run(string name, HookSpec? hook) => _runner.Run(name, hook, _variables);
}
