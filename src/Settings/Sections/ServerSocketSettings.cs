using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Types;

namespace Gunicorn.Settings.Sections;

public static class ServerSocketSettings
{
    public static readonly Setting<IReadOnlyList<BindAddress>> Bind = new()
    {
        Key = "bind",
        Section = Section.ServerSocket,
        Cli = ["-b", "--bind"],
        Meta = "ADDRESS",
        Repeatable = true,
        Type = BindAddress.ListType,
        Default = [new BindAddress(BindKind.Tcp, "127.0.0.1", 8000)],
        EnvDefault = "PORT",
        DefaultFromEnvironment = env => int.TryParse(env["PORT"], out var port) && port is >= 0 and <= 65535
            ? new List<BindAddress> { new(BindKind.Tcp, "0.0.0.0", port) }
            : null,
        Doc = """
            The addresses the front tier listens on: `HOST:PORT`, `[::1]:PORT`, `unix:PATH` or `fd://N`; a list or
            the flag repeated. Systemd socket activation (LISTEN_FDS) is used when present. Default
            `127.0.0.1:8000`, or `0.0.0.0:$PORT` when the PORT environment variable is set.
            """,
    };

    public static readonly Setting<int> Backlog = new()
    {
        Key = "backlog",
        Section = Section.ServerSocket,
        Cli = ["--backlog"],
        Meta = "INT",
        Type = Scalars.Int,
        Default = 2048,
        Rules = [Rules.AtLeast(1, "Typically 64-2048; the kernel caps it at net.core.somaxconn.")],
        Doc = "The maximum number of pending connections, passed to listen().",
    };

    public static readonly Setting<bool> ReusePort = new()
    {
        Key = "reuse_port",
        Section = Section.ServerSocket,
        Cli = ["--reuse-port"],
        Type = Scalars.Bool,
        Default = false,
        Doc = """
            Set SO_REUSEPORT on TCP listeners, so that several gunicorn-net masters (or another server) can bind the
            same address and the kernel spreads connections among them.
            """,
    };

    /// <summary>Beyond this, threads only add switching: nginx advises one worker process per core.</summary>
    public const int MaxFrontThreads = 256;

    public static readonly Setting<int?> FrontThreads = new()
    {
        Key = "front_threads",
        Section = Section.ServerSocket,
        Cli = ["--front-threads"],
        Meta = "INT",
        Type = Scalars.CountOrAuto,
        Default = null,
        Rules = [new Rule<int?>(count => count is null or <= MaxFrontThreads, count => $"must be at most {MaxFrontThreads}, got {count}.",
            "Typically auto, or the number of cores for a front that mostly serves files.")
        {
            AddToSchema = schema => schema["oneOf"]![0]!["maximum"] = MaxFrontThreads,
        }],
        Doc = """
            The front tier's event threads (nginx's `worker_processes`): each waits on its share of the client and
            worker sockets and runs the requests they wake, as an nginx worker process does. `auto` (the default)
            is one per two cores, at least one: the other cores are the workers'. Set it to the core count when the
            front does most of the work itself (static files, cached compression) rather than the app: on a 2-core
            machine two threads serve 1 KiB static files about 25% faster than one (docs/benchmarks.md). Fixed for the
            master's life: a reload that changes it is logged and applies it only after a restart or a USR2 upgrade.
            Under `auto`, an operator's own `DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT` (from the environment or `raw_env`)
            decides; a count overrides it in the master only, the workers keep the operator's value.
            """,
    };
}
