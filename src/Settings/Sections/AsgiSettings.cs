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

    public static readonly Setting<long> WebsocketMaxMessageSize = new()
    {
        Key = "websocket_max_message_size",
        Section = Section.WorkerProcesses,
        Cli = ["--websocket-max-message-size"],
        Meta = "BYTES",
        Type = Quantities.Bytes,
        Default = 16L * 1024 * 1024,
        Rules = [new Rule<long>(v => v >= 125, v => $"must be at least 125 bytes, got {v}.")],
        Doc = "The largest WebSocket message an asgi worker accepts from a client (uvicorn's ws_max_size, 16 MiB); a larger one closes the connection with 1009.",
    };

    public static readonly Setting<double> WebsocketPingInterval = new()
    {
        Key = "websocket_ping_interval",
        Section = Section.WorkerProcesses,
        Cli = ["--websocket-ping-interval"],
        Meta = "SECONDS",
        Type = Quantities.Seconds,
        Default = 20,
        Rules = [Registry.Rules.AtLeast(0.0)],
        Doc = """
            How often an asgi worker pings each open WebSocket (uvicorn's ws_ping_interval, 20 s; 0: never); a client
            that does not answer within `websocket_ping_timeout` is closed with 1011. Pings also keep idle WebSockets
            alive through the front's activity timeout.
            """,
    };

    public static readonly Setting<double> WebsocketPingTimeout = new()
    {
        Key = "websocket_ping_timeout",
        Section = Section.WorkerProcesses,
        Cli = ["--websocket-ping-timeout"],
        Meta = "SECONDS",
        Type = Quantities.Seconds,
        Default = 20,
        Rules = [Registry.Rules.AtLeast(0.1)],
        Doc = "How long a WebSocket client may take to answer a ping (uvicorn's ws_ping_timeout, 20 s) before it is closed with 1011.",
    };
}
