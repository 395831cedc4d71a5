namespace Gunicorn.Shared.Contract;

/// <summary>Everything a worker process needs, decided by the master (workers never read the configuration).</summary>
/// <param name="Generation">The generation the worker belongs to (a new one per reload).</param>
/// <param name="Age">gunicorn's worker age: a number unique for the master's lifetime.</param>
/// <param name="SocketPath">The Unix socket the worker listens on.</param>
/// <param name="App">The app target (<c>@hello</c>, <c>@echo</c>, <c>module:callable</c>).</param>
/// <param name="Python">The interpreter the master located for a Python app (null for a built-in app).</param>
/// <param name="WorkerClass">sync, gthread or async (<see cref="WorkerContract.GThread"/>...).</param>
/// <param name="Title">The process title to show in ps.</param>
/// <param name="MaxRequests">Requests after which the worker asks to be recycled (max_requests plus jitter); 0 for never.</param>
/// <param name="Sendfile">gunicorn's sendfile: a <c>wsgi.file_wrapper</c> over a real file goes out with sendfile(2).</param>
/// <param name="BatchScheduling">worker_batch_scheduling: the worker runs under SCHED_BATCH (the app and what it execs inherit it).</param>
/// <param name="Exec">
/// For an app that is its own program (an ASP.NET Core App.dll): the command the worker executes in its place once it
/// has taken the worker's identity, directory and output (argv[0] becomes <see cref="Title"/>). Null for hosted apps.
/// </param>
public sealed record WorkerStartInfo(
    int MasterPid,
    int Generation,
    int Age,
    string SocketPath,
    string App,
    string Chdir,
    PythonInterpreter? Python,
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
    WorkerIdentity? Identity,
    bool Sendfile,
    IReadOnlyList<string>? Exec = null,
    Gunicorn.Shared.Logging.SyslogTarget? Syslog = null,
    IReadOnlyList<string>? ForwarderHeaders = null,
    Gunicorn.Shared.Metrics.StatsdTarget? Statsd = null,
    AsgiOptions? Asgi = null,
    bool BatchScheduling = false);

/// <summary>gunicorn's asgi_* settings and root_path, for an asgi worker.</summary>
public sealed record AsgiOptions(string Loop, string Lifespan, double DisconnectGraceSeconds, string RootPath,
    long WebSocketMaxMessage, double WebSocketPingInterval, double WebSocketPingTimeout);

/// <summary>The interpreter to embed, as the master found it by asking it (sysconfig).</summary>
/// <param name="Executable">sys.executable: CPython derives its prefix (and a virtualenv's site-packages) from it.</param>
/// <param name="Library">The shared libpython to load.</param>
/// <param name="Version">major.minor.micro.</param>
public sealed record PythonInterpreter(string Executable, string Library, string Version);

public enum HookKind { Command, Python }

/// <summary>A hook as the worker runs it: a command line (argv, no shell) or a <c>python:module:function</c>.</summary>
public sealed record HookCommand(HookKind Kind, string Text, IReadOnlyList<string> Argv)
{
    public const string PythonPrefix = "python:";

    /// <summary>For a Python hook: <c>module:function</c>.</summary>
    public string PythonTarget => Text[PythonPrefix.Length..];

    public override string ToString() => Text;
}

/// <summary>The hooks a worker runs itself.</summary>
public sealed record WorkerHooks(
    HookCommand? PostFork,
    HookCommand? PreRequest,
    HookCommand? PostRequest,
    HookCommand? PostWorkerInit,
    HookCommand? WorkerInt,
    HookCommand? WorkerAbort,
    HookCommand? WorkerExit,
    double TimeoutSeconds)
{
    /// <summary>The hooks written as python:module:function, by gunicorn's name, for the app's interpreter.</summary>
    public IReadOnlyDictionary<string, string> PythonTargets()
    {
        var targets = new Dictionary<string, string>();
        foreach (var (name, hook) in new[]
        {
            ("post_fork", PostFork), ("pre_request", PreRequest), ("post_request", PostRequest),
            ("post_worker_init", PostWorkerInit), ("worker_int", WorkerInt), ("worker_abort", WorkerAbort), ("worker_exit", WorkerExit),
        })
        {
            if (hook?.Kind == HookKind.Python)
            {
                targets[name] = hook.PythonTarget;
            }
        }
        return targets;
    }
}

/// <summary>The user and group a worker switches to before loading the app (gunicorn's user, group, initgroups).</summary>
public sealed record WorkerIdentity(string UserName, uint Uid, uint Gid, bool InitGroups);
