using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Types;

namespace Gunicorn.Settings.Sections;

/// <summary>gunicorn's settings for its asgi worker (<c>worker_class: asgi</c>), with gunicorn's names and defaults.</summary>
public static class AsgiSettings
{
    public static readonly Setting<string> AsgiLoop = new()
    {
        Key = "asgi_loop",
        Section = Section.WorkerProcesses,
        Cli = ["--asgi-loop"],
        Meta = "STRING",
        Type = Scalars.Choice("auto", "asyncio", "uvloop"),
        Default = "auto",
        Doc = "The event loop of `asgi` workers: `auto` (uvloop when it can be imported, else asyncio), `asyncio` or `uvloop` (an error at boot when it is missing).",
    };

    public static readonly Setting<string> AsgiLifespan = new()
    {
        Key = "asgi_lifespan",
        Section = Section.WorkerProcesses,
        Cli = ["--asgi-lifespan"],
        Meta = "STRING",
        Type = Scalars.Choice("auto", "on", "off"),
        Default = "auto",
        Doc = """
            The ASGI lifespan protocol: `startup` before the worker reports ready (a failure is an app that cannot
            load: exit 4, the master halts on a first boot and a reload keeps the old generation), `shutdown` on a
            graceful stop within `graceful_timeout`; `scope["state"]` is shared with requests. `auto`: used when the
            app supports it, `on`: required, `off`: never sent.
            """,
    };

    public static readonly Setting<double> AsgiDisconnectGracePeriod = new()
    {
        Key = "asgi_disconnect_grace_period",
        Section = Section.WorkerProcesses,
        Cli = ["--asgi-disconnect-grace-period"],
        Meta = "INT",
        Type = Quantities.Seconds,
        Default = 3,
        Rules = [Registry.Rules.AtLeast(0.0)],
        Doc = "After a request's response is complete, how long its task may still run (cleanup after `http.disconnect`) before it is cancelled.",
    };

    public static readonly Setting<string> RootPath = new()
    {
        Key = "root_path",
        Section = Section.WorkerProcesses,
        Cli = ["--root-path"],
        Meta = "STRING",
        Type = Scalars.Text,
        Default = "",
        Doc = "The ASGI `root_path` (the prefix the app is mounted under behind a proxy, e.g. `/api`); a forwarded SCRIPT_NAME (forwarder_headers) is added to it.",
    };
}
