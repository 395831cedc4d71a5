namespace Gunicorn.Backend.Contract;

/// <summary>Everything a worker process needs, decided by the master (workers never re-read the config).</summary>
/// <param name="Generation">The generation the worker belongs to (a new one per reload).</param>
/// <param name="Age">gunicorn's worker age: a number unique for the master's lifetime.</param>
/// <param name="SocketPath">The Unix socket the worker listens on.</param>
/// <param name="App">The app target (<c>@hello</c>, <c>@echo</c>, <c>module:callable</c>, <c>App.dll</c>).</param>
/// <param name="Title">The process title to show in ps.</param>
/// <param name="MaxRequests">Requests after which the worker asks to be recycled (max_requests plus jitter); 0 for never.</param>
public sealed record WorkerStartInfo(
    int MasterPid,
    int Generation,
    int Age,
    string SocketPath,
    string App,
    string Chdir,
    string Python,
    IReadOnlyList<string> PythonPath,
    string WorkerClass,
    int Concurrency,
    int TimeoutSeconds,
    int GracefulTimeoutSeconds,
    string Title,
    string LogLevel,
    string ErrorLog,
    bool CaptureOutput,
    WorkerHooks Hooks,
    long MaxRequests,
    WorkerIdentity? Identity);

/// <summary>The hooks a worker runs itself (command form; the python: form belongs to WSGI workers).</summary>
public sealed record WorkerHooks(
    Gunicorn.Settings.Types.HookSpec? PostFork,
    Gunicorn.Settings.Types.HookSpec? PreRequest,
    Gunicorn.Settings.Types.HookSpec? PostRequest,
    Gunicorn.Settings.Types.HookSpec? PostWorkerInit,
    Gunicorn.Settings.Types.HookSpec? WorkerInt,
    Gunicorn.Settings.Types.HookSpec? WorkerAbort,
    Gunicorn.Settings.Types.HookSpec? WorkerExit,
    double TimeoutSeconds)
{
    /// <summary>The hooks written as python:module:function, by name, for the WSGI runner.</summary>
    public IReadOnlyDictionary<string, string> PythonTargets() => new Dictionary<string, Gunicorn.Settings.Types.HookSpec?>
    {
        ["post_fork"] = PostFork,
        ["pre_request"] = PreRequest,
        ["post_request"] = PostRequest,
        ["post_worker_init"] = PostWorkerInit,
        ["worker_int"] = WorkerInt,
        ["worker_abort"] = WorkerAbort,
        ["worker_exit"] = WorkerExit,
    }
    .Where(h => h.Value?.Kind == Gunicorn.Settings.Types.HookKind.Python)
    .ToDictionary(h => h.Key, h => h.Value!.Text[Gunicorn.Settings.Types.HookSpec.PythonPrefix.Length..]);
}

/// <summary>The user and group a worker switches to before loading the app (gunicorn's user, group, initgroups).</summary>
public sealed record WorkerIdentity(string UserName, uint Uid, uint Gid, bool InitGroups);
