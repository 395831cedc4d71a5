using Gunicorn.Shared.Contract;
using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Types;

namespace Gunicorn.Settings.Sections;

/// <summary>
/// gunicorn's server hooks. A hook is a command line (run by the process named in its doc, without a shell, with the
/// event in GUNICORN_* environment variables) or, for worker-side hooks of WSGI apps, <c>python:module:function</c>
/// called with gunicorn's arguments. See docs/hooks.md.
/// </summary>
public static class ServerHookSettings
{
    private static Setting<HookCommand?> Hook(string key, string doc) => new()
    {
        Key = key,
        Section = Section.ServerHooks,
        Type = HookSpec.Type,
        Default = null,
        Doc = doc,
    };

    public static readonly Setting<HookCommand?> OnStarting = Hook("on_starting",
        "Master, before the front tier and the arbiter start. A failure stops startup (exit 1), as in gunicorn.");

    public static readonly Setting<HookCommand?> OnReload = Hook("on_reload",
        "Master, when a reload (HUP) begins.");

    public static readonly Setting<HookCommand?> WhenReady = Hook("when_ready",
        "Master, once the first generation of workers is ready and the listeners accept.");

    public static readonly Setting<HookCommand?> PreFork = Hook("pre_fork",
        "Master, just before a worker process is spawned (GUNICORN_WORKER_AGE set).");

    public static readonly Setting<HookCommand?> PostFork = Hook("post_fork",
        "Master, just after a worker process is spawned (GUNICORN_WORKER_PID set); `python:` form runs in the worker as post_fork(server, worker).");

    public static readonly Setting<HookCommand?> PostWorkerInit = Hook("post_worker_init",
        "Worker, after the app is loaded and before it serves; `python:` form is post_worker_init(worker).");

    public static readonly Setting<HookCommand?> WorkerInt = Hook("worker_int",
        "Worker, when it receives INT or QUIT; `python:` form is worker_int(worker).");

    public static readonly Setting<HookCommand?> WorkerAbort = Hook("worker_abort",
        "Worker, when the master aborts it for exceeding `timeout` (SIGABRT); `python:` form is worker_abort(worker).");

    public static readonly Setting<HookCommand?> PreExec = Hook("pre_exec",
        "Master, before a new master binary is executed (binary upgrade).");

    public static readonly Setting<HookCommand?> PreRequest = Hook("pre_request",
        "Worker, before each request; only the `python:` form (pre_request(worker, req)), because a process per request would cost more than the request.");

    public static readonly Setting<HookCommand?> PostRequest = Hook("post_request",
        "Worker, after each request; only the `python:` form (post_request(worker, req, environ, resp)).");

    public static readonly Setting<HookCommand?> ChildExit = Hook("child_exit",
        "Master, after a worker has exited (GUNICORN_WORKER_PID, GUNICORN_EXIT_CODE set). Failures are logged, never fatal.");

    public static readonly Setting<HookCommand?> WorkerExit = Hook("worker_exit",
        "Worker, just before it exits; `python:` form is worker_exit(server, worker).");

    public static readonly Setting<HookCommand?> NWorkersChanged = Hook("nworkers_changed",
        "Master, after the number of workers changed (GUNICORN_NEW_VALUE, GUNICORN_OLD_VALUE set).");

    public static readonly Setting<HookCommand?> OnExit = Hook("on_exit",
        "Master, just before it exits.");

    public static readonly Setting<double> HookTimeout = new()
    {
        Key = "hook_timeout",
        Section = Section.ServerHooks,
        Cli = ["--hook-timeout"],
        Meta = "SECONDS",
        Type = Quantities.Seconds,
        Default = 30,
        Rules = [Rules.AtLeast(0.1)],
        Doc = "A hook command still running after this long is killed and counted as failed (gunicorn-net only; gunicorn's Python hooks cannot hang separately).",
    };
}
