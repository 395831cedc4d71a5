using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Types;

namespace Gunicorn.Settings.Sections;

/// <summary>
/// gunicorn settings that gunicorn-net knows and refuses, each with the reason and what to use instead: a gunicorn
/// config that sets one fails at config time with that reason rather than as an unknown key, or silently.
/// </summary>
public static class RefusedSettings
{
    private const string DirtyReason =
        "gunicorn's dirty arbiter (a second pool for long-running tasks beside the HTTP workers) is not implemented; run those tasks in a task queue or a separate gunicorn-net instance with a long timeout.";

    private const string PasteReason =
        "PasteDeploy .ini apps are not loaded; name the app as module:callable (e.g. the callable your .ini's `use = egg:` entry points at).";

    private static Setting<string?> Refused(string key, Section section, string[] cli, string reason, string doc) => new()
    {
        Key = key,
        Section = section,
        Cli = cli,
        Meta = cli.Length > 0 ? "VALUE" : null,
        Type = Scalars.OptionalText,
        Default = null,
        Status = SettingStatus.Unsupported(reason),
        Doc = doc,
    };


    public static readonly Setting<string?> DirtyApps = Refused("dirty_apps", Section.WorkerProcesses, ["--dirty-app"], DirtyReason, "gunicorn's dirty apps.");
    public static readonly Setting<string?> DirtyWorkers = Refused("dirty_workers", Section.WorkerProcesses, ["--dirty-workers"], DirtyReason, "gunicorn's dirty worker count.");
    public static readonly Setting<string?> DirtyTimeout = Refused("dirty_timeout", Section.WorkerProcesses, ["--dirty-timeout"], DirtyReason, "gunicorn's dirty task timeout.");
    public static readonly Setting<string?> DirtyThreads = Refused("dirty_threads", Section.WorkerProcesses, ["--dirty-threads"], DirtyReason, "gunicorn's dirty worker threads.");
    public static readonly Setting<string?> DirtyGracefulTimeout = Refused("dirty_graceful_timeout", Section.WorkerProcesses, ["--dirty-graceful-timeout"], DirtyReason, "gunicorn's dirty worker graceful timeout.");
    public static readonly Setting<string?> OnDirtyStarting = Refused("on_dirty_starting", Section.ServerHooks, [], DirtyReason, "gunicorn's dirty arbiter hook.");
    public static readonly Setting<string?> DirtyPostFork = Refused("dirty_post_fork", Section.ServerHooks, [], DirtyReason, "gunicorn's dirty arbiter hook.");
    public static readonly Setting<string?> DirtyWorkerInit = Refused("dirty_worker_init", Section.ServerHooks, [], DirtyReason, "gunicorn's dirty arbiter hook.");
    public static readonly Setting<string?> DirtyWorkerExit = Refused("dirty_worker_exit", Section.ServerHooks, [], DirtyReason, "gunicorn's dirty arbiter hook.");

    public static readonly Setting<string?> HttpParser = Refused("http_parser", Section.WorkerProcesses, ["--http-parser"],
        "it picks the HTTP parser of gunicorn's ASGI workers; here the front tier (Kestrel) parses every request.", "gunicorn's ASGI HTTP parser.");

    public static readonly Setting<string?> Paste = Refused("paste", Section.ServerMechanics, ["--paste", "--paster"], PasteReason, "A PasteDeploy config file.");
    public static readonly Setting<string?> RawPasteGlobalConf = Refused("raw_paste_global_conf", Section.ServerMechanics, ["--paste-global"], PasteReason, "PasteDeploy global variables.");

    public static readonly Setting<string?> LogConfigDict = Refused("logconfig_dict", Section.Logging, [],
        "it is a Python logging.config dictionary, which the .NET master cannot apply; use errorlog, loglevel, accesslog and syslog.", "gunicorn's Python logging dictionary.");
    public static readonly Setting<string?> LogConfigJson = Refused("logconfig_json", Section.Logging, ["--log-config-json"],
        "it is a Python logging.config JSON file, which the .NET master cannot apply; use errorlog, loglevel, accesslog and syslog.", "gunicorn's Python logging JSON file.");

    public static readonly Setting<string?> SslContext = Refused("ssl_context", Section.Ssl, [],
        "it is a Python callable that builds an ssl.SSLContext; the .NET front terminates TLS, configured by certfile, keyfile, ca_certs, cert_reqs and ciphers.", "gunicorn's SSLContext factory hook.");

    public static readonly Setting<string?> UwsgiAllowIps = Refused("uwsgi_allow_ips", Section.ServerMechanics, ["--uwsgi-allow-from"],
        "the uwsgi protocol is not served (protocol: http only); point nginx's proxy_pass, not uwsgi_pass, at gunicorn-net, or drop nginx.", "Addresses allowed to send the uwsgi protocol.");
}
