using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Types;

namespace Gunicorn.Settings.Sections;

public static class WorkerProcessSettings
{
    public static readonly Setting<int> Workers = new()
    {
        Key = "workers",
        Section = Section.WorkerProcesses,
        Cli = ["-w", "--workers"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 1,
        EnvDefault = "WEB_CONCURRENCY",
        DefaultFromEnvironment = env => int.TryParse(env["WEB_CONCURRENCY"], out var n) && n >= 1 ? n : null,
        Rules = [Rules.AtLeast(1, "Typically 2-4 x the number of CPU cores.")],
        Doc = "The number of worker processes. Default 1, or the WEB_CONCURRENCY environment variable when set.",
    };

    public static readonly Setting<string> WorkerClass = new()
    {
        Key = "worker_class",
        Section = Section.WorkerProcesses,
        Cli = ["-k", "--worker-class"],
        Meta = "STRING",
        Type = WorkerClassType.Instance,
        Default = WorkerClassType.Sync,
        Doc = """
            How a worker runs requests. `sync`: one request at a time per worker; the front tier never sends a
            second one. `gthread`: up to `threads` requests at once on a thread pool (Python threads take the GIL in
            turn). `async`: up to `worker_connections` requests at once, for ASP.NET Core apps. `asgi`: an ASGI app
            (FastAPI, Starlette, Django's asgi.py) on one event loop per worker, up to `worker_connections` requests
            at once; uvicorn's worker classes (`uvicorn.workers.UvicornWorker`...) mean the same. `threads` > 1 with
            `sync` switches to `gthread`, as in gunicorn. An ASP.NET Core app under `sync` or `gthread` serves each of
            the front's connections on a thread of its own, as gunicorn's threads do (a request wakes one thread; an
            app that blocks holds only its own request); under `async`, on Kestrel's event threads and thread pool
            (for many long-lived requests: WebSockets, streams).
            """,
    };

    public static readonly Setting<int> Threads = new()
    {
        Key = "threads",
        Section = Section.WorkerProcesses,
        Cli = ["--threads"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 1,
        Rules = [Rules.AtLeast(1)],
        Doc = "The number of requests a `gthread` worker handles at once.",
    };

    public static readonly Setting<int> WorkerConnections = new()
    {
        Key = "worker_connections",
        Section = Section.WorkerProcesses,
        Cli = ["--worker-connections"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 1000,
        Rules = [Rules.AtLeast(1)],
        Doc = "The number of requests an `async` worker handles at once.",
    };

    public static readonly Setting<int> MaxRequests = new()
    {
        Key = "max_requests",
        Section = Section.WorkerProcesses,
        Cli = ["--max-requests"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 0,
        Rules = [Rules.AtLeast(0)],
        Doc = """
            Recycle a worker after it has served this many requests (0: never), a guard against memory leaks. The
            replacement is ready before the old worker stops taking requests.
            """,
    };

    public static readonly Setting<int> MaxRequestsJitter = new()
    {
        Key = "max_requests_jitter",
        Section = Section.WorkerProcesses,
        Cli = ["--max-requests-jitter"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 0,
        Rules = [Rules.AtLeast(0)],
        Doc = "Add a random 0..N to `max_requests` per worker, so workers do not all recycle at once.",
    };

    public static readonly Setting<int> Timeout = new()
    {
        Key = "timeout",
        Section = Section.WorkerProcesses,
        Cli = ["-t", "--timeout"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 30,
        Rules = [Rules.AtLeast(0)],
        Doc = """
            A worker that has not sent a heartbeat for this many seconds is aborted (SIGABRT, then SIGKILL) and
            replaced; its request is answered 504. Workers that keep beating while a request runs (gthread, the
            built-in apps, ASP.NET Core apps) are bounded per request by the front instead: a worker that sends
            nothing for 2 x timeout (at least 60 s) gets its request answered 504. An ASP.NET Core app under `sync`
            or `gthread` also gives up a send to the front that makes no progress for this long (an unbuffered
            response whose client stopped reading), freeing the app's thread. 0 disables all three, as gunicorn's
            "no timeout"; requests then wait as long as the worker takes.
            """,
    };

    public static readonly Setting<int> GracefulTimeout = new()
    {
        Key = "graceful_timeout",
        Section = Section.WorkerProcesses,
        Cli = ["--graceful-timeout"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 30,
        Rules = [Rules.AtLeast(0)],
        Doc = "Seconds a stopping worker gets to finish its in-flight requests before it is killed.",
    };

    public static readonly Setting<bool> WorkerBatchScheduling = new()
    {
        Key = "worker_batch_scheduling",
        Section = Section.WorkerProcesses,
        Cli = ["--no-worker-batch-scheduling"],
        FlagValue = "false",
        Type = Scalars.Bool,
        Default = true,
        Doc = """
            Run the workers under Linux's SCHED_BATCH policy: the same CPU share as the normal policy, but a worker
            woken by a request does not preempt the running thread. The front's event thread then forwards the requests
            it has already read before the workers run, instead of being switched out each time it hands one over (Flask
            hello, 5 workers on 2 cores: 0.4 front context switches per request instead of 0.7, 6% less front CPU per
            request). The app's threads and the processes it starts inherit the policy. A master started under another
            policy (chrt, systemd's CPUSchedulingPolicy) leaves its workers under that one. `--no-worker-batch-scheduling`
            keeps the normal policy (for workers that share the machine with latency-sensitive programs).
            """,
    };

    public static readonly Setting<int> KeepAlive = new()
    {
        Key = "keepalive",
        Section = Section.WorkerProcesses,
        Cli = ["--keep-alive"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 2,
        Rules = [Rules.AtLeast(0)],
        Doc = "Seconds an idle client keep-alive connection stays open at the front tier. 0 closes after each response.",
    };
}
