using Gunicorn.Settings.Platform;
using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Sections;
using Gunicorn.Settings.Types;
using Gunicorn.Shared.Contract;

namespace Gunicorn.Settings;

/// <summary>Rules that involve more than one setting. Each either reports an error or makes a change it announces.</summary>
internal static class CrossRules
{
    private static readonly Setting<HookCommand?>[] MasterOnlyHooks =
    [
        ServerHookSettings.OnStarting, ServerHookSettings.OnReload, ServerHookSettings.WhenReady, ServerHookSettings.PreFork,
        ServerHookSettings.PreExec, ServerHookSettings.ChildExit, ServerHookSettings.NWorkersChanged, ServerHookSettings.OnExit,
    ];

    /// <summary>Hooks that run in the worker process (python: there means the app's interpreter).</summary>
    private static readonly Setting<HookCommand?>[] WorkerSideHooks =
    [
        ServerHookSettings.PostFork, ServerHookSettings.PostWorkerInit, ServerHookSettings.PreRequest, ServerHookSettings.PostRequest,
        ServerHookSettings.WorkerInt, ServerHookSettings.WorkerAbort, ServerHookSettings.WorkerExit,
    ];

    public static ResolvedSettings Apply(ResolvedSettings settings, List<SettingsError> errors, List<string> notices)
    {
        var threads = settings.Get(WorkerProcessSettings.Threads);
        if (threads > 1 && settings.Get(WorkerProcessSettings.WorkerClass) == WorkerClassType.Sync)
        {
            var origin = settings[WorkerProcessSettings.Threads].Origin;
            notices.Add($"threads is {threads} ({origin}) with worker_class sync: using gthread, as gunicorn does.");
            settings = settings.With(WorkerProcessSettings.WorkerClass, WorkerClassType.GThread, origin);
        }

        if (WorkerClassType.UvicornClasses.Contains(settings.Get(WorkerProcessSettings.WorkerClass)))
        {
            var origin = settings[WorkerProcessSettings.WorkerClass].Origin;
            notices.Add($"worker_class {settings.Get(WorkerProcessSettings.WorkerClass)} ({origin}): served by gunicorn-net's asgi worker, the same ASGI app without uvicorn.");
            settings = settings.With(WorkerProcessSettings.WorkerClass, WorkerClassType.Asgi, origin);
        }
        if (settings.Get(WorkerProcessSettings.WorkerClass) == WorkerClassType.Asgi
            && settings.Get(ConfigFileSettings.WsgiApp) is { } asgiApp && (asgiApp.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) || asgiApp.StartsWith('@')))
        {
            errors.Add(new SettingsError(settings[WorkerProcessSettings.WorkerClass].Origin, WorkerProcessSettings.WorkerClass.Key,
                $"asgi runs Python ASGI apps (module:app, e.g. FastAPI or Starlette); {asgiApp} is not one. Use async for an ASP.NET Core app, sync or gthread otherwise."));
        }

        // async means "many requests at once per worker": only an app that awaits I/O can take them. A WSGI or built-in
        // app serves one request per thread, so the front would queue requests inside the worker, beyond
        // request_queue_size and its 503.
        if (settings.Get(WorkerProcessSettings.WorkerClass) == WorkerClassType.Async
            && !(settings.Get(ConfigFileSettings.WsgiApp) ?? "").EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add(new SettingsError(settings[WorkerProcessSettings.WorkerClass].Origin, WorkerProcessSettings.WorkerClass.Key,
                "async runs apps that await I/O (ASP.NET Core App.dll); this app serves one request per thread. " +
                "Use gthread with threads: N for concurrency within a worker, or sync."));
        }

        if (settings.Get(WorkerProcessSettings.MaxRequestsJitter) > 0 && settings.Get(WorkerProcessSettings.MaxRequests) == 0)
        {
            notices.Add("max_requests_jitter has no effect while max_requests is 0.");
        }

        if (settings.Get(SslSettings.KeyFile) is not null && settings.Get(SslSettings.CertFile) is null)
        {
            errors.Add(new SettingsError(settings[SslSettings.KeyFile].Origin, SslSettings.KeyFile.Key,
                "is set but certfile is not. Set certfile to the certificate that goes with this key."));
        }
        if (settings.Get(SslSettings.CertReqs) > 0 && settings.Get(SslSettings.CaCerts) is null)
        {
            errors.Add(new SettingsError(settings[SslSettings.CertReqs].Origin, SslSettings.CertReqs.Key,
                "asks for client certificates but ca_certs is not set. Set ca_certs to the CA bundle that signs them."));
        }
        foreach (var file in new[] { SslSettings.CertFile, SslSettings.KeyFile, SslSettings.CaCerts })
        {
            RequireExisting(settings, file, File.Exists, "file", errors);
        }
        RequireExisting(settings, ServerMechanicsSettings.Chdir, Directory.Exists, "directory", errors);
        var (pages, pagesOrigin) = settings[FrontHttpSettings.ErrorPage];
        foreach (var (status, page) in (IReadOnlyDictionary<string, string>)pages!)
        {
            if (!File.Exists(pagesOrigin.ResolvePath(page)))
            {
                errors.Add(new SettingsError(pagesOrigin, FrontHttpSettings.ErrorPage.Key,
                    $"the page for {status}, \"{pagesOrigin.ResolvePath(page)}\", does not exist. Fix the path or remove the entry."));
            }
        }
        if (settings.Get(FrontHttpSettings.HttpsRedirectBind).Count > 0 && settings.Get(SslSettings.CertFile) is null)
        {
            errors.Add(new SettingsError(settings[FrontHttpSettings.HttpsRedirectBind].Origin, FrontHttpSettings.HttpsRedirectBind.Key,
                "redirects to HTTPS, but no listener speaks it: certfile is not set. Set certfile and keyfile (bind then serves HTTPS), or remove https_redirect_bind."));
        }
        if (settings.Get(Http2Settings.Http2Cleartext) == "prior-knowledge" && !settings.Get(ProxySettings.HttpProtocols).Contains("h2"))
        {
            errors.Add(new SettingsError(settings[Http2Settings.Http2Cleartext].Origin, Http2Settings.Http2Cleartext.Key,
                "prior-knowledge serves HTTP/2, but http_protocols does not include h2. Add h2 to http_protocols, or set http2_cleartext: off."));
        }
        if (settings.Get(FrontHttpSettings.HttpsRedirectBind).FirstOrDefault(r => settings.Get(ServerSocketSettings.Bind).Any(b => b.ToString() == r.ToString())) is { } both)
        {
            errors.Add(new SettingsError(settings[FrontHttpSettings.HttpsRedirectBind].Origin, FrontHttpSettings.HttpsRedirectBind.Key,
                $"{both} is also in bind. One address serves HTTPS or redirects to it, not both: remove it from one of them."));
        }
        if (settings.Get(ConfigFileSettings.WsgiApp) is { } app && app.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
        {
            var origin = settings[ConfigFileSettings.WsgiApp].Origin;
            var chdir = settings[ServerMechanicsSettings.Chdir];
            var path = Path.GetFullPath(app, chdir.Origin.ResolvePath((string)chdir.Value!));
            if (!File.Exists(path))
            {
                errors.Add(new SettingsError(origin, ConfigFileSettings.WsgiApp.Key,
                    $"ASP.NET Core app \"{path}\" does not exist. Build it (dotnet build) and name its .dll, relative to chdir."));
            }
        }
        if (settings.Get(ConfigFileSettings.WsgiApp) is { } dll && dll.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
        {
            foreach (var hook in WorkerSideHooks)
            {
                if (settings.Get(hook) is { Kind: HookKind.Python } python)
                {
                    errors.Add(new SettingsError(settings[hook].Origin, hook.Key,
                        $"\"{python.Text}\" is a Python callable, but the app ({dll}) is an ASP.NET Core app: no Python runs in its workers. Use a command line."));
                }
            }
        }
        foreach (var hook in new[] { ServerHookSettings.PreRequest, ServerHookSettings.PostRequest })
        {
            if (settings.Get(hook) is { Kind: HookKind.Command } command)
            {
                errors.Add(new SettingsError(settings[hook].Origin, hook.Key,
                    $"\"{command.Text}\" is a command, but {hook.Key} runs for every request, where a process each time would cost more than the request. Use the python: form (python:module:function)."));
            }
        }
        foreach (var hook in MasterOnlyHooks)
        {
            if (settings.Get(hook) is { Kind: HookKind.Python } python)
            {
                errors.Add(new SettingsError(settings[hook].Origin, hook.Key,
                    $"\"{python.Text}\" is a Python callable, but {hook.Key} runs in the .NET master. Use a command line; the python: form is for worker-side hooks (post_fork, post_worker_init, pre_request, post_request, worker_int, worker_abort, worker_exit)."));
            }
        }
        if (settings.Get(ServerMechanicsSettings.User) is { } user && UserDatabase.FindUser(user) is null)
        {
            errors.Add(new SettingsError(settings[ServerMechanicsSettings.User].Origin, ServerMechanicsSettings.User.Key,
                $"no user \"{user}\" on this system. Create it (useradd) or name an existing user or uid."));
        }
        if (settings.Get(ServerMechanicsSettings.Group) is { } group && UserDatabase.FindGroup(group) is null)
        {
            errors.Add(new SettingsError(settings[ServerMechanicsSettings.Group].Origin, ServerMechanicsSettings.Group.Key,
                $"no group \"{group}\" on this system. Create it (groupadd) or name an existing group or gid."));
        }
        return settings;
    }

    private static void RequireExisting(ResolvedSettings settings, SettingDefinition setting,
        Func<string, bool> exists, string what, List<SettingsError> errors)
    {
        var (value, origin) = settings[setting];
        if (value is not string path)
        {
            return;
        }
        var full = origin.ResolvePath(path);
        if (!exists(full))
        {
            errors.Add(new SettingsError(origin, setting.Key, $"{what} \"{full}\" does not exist. Fix the path."));
        }
    }
}
