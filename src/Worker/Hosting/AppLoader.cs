using Gunicorn.Shared.Contract;
using Gunicorn.Shared.Logging;
using Gunicorn.Worker.Builtin;
using Gunicorn.Worker.Python;
using Gunicorn.Worker.Server;
using Gunicorn.Worker.Wsgi;

namespace Gunicorn.Worker.Hosting;

/// <summary>The app a worker serves and what it needs at exit.</summary>
/// <param name="Shutdown">For a Python app: runs its atexit handlers and flushes its output (graceful or fast exit).</param>
/// <param name="Stopping">Told when the worker begins its graceful stop (an ASGI app closes its WebSockets).</param>
/// <param name="AsgiServer">For an ASGI app: its server (asgi_server.Server), whose event loop serves the connections.</param>
internal sealed record LoadedApp(IRequestHandler Handler, ServingThreads Threads, Action Shutdown, Action? Stopping = null, nint AsgiServer = 0);

/// <summary>
/// Loads the configured app: a built-in app (<c>@hello</c>, <c>@echo</c>), or a Python WSGI app
/// (<c>module:callable</c>) in the interpreter the master located. ASP.NET Core apps (<c>App.dll</c>) never come here:
/// the master runs them with <c>dotnet</c> and an injected startup hook. ASGI apps load as Python apps, then get their
/// server (<c>asgi_server.py</c>).
/// </summary>
internal static class AppLoader
{
    /// <summary>The app, or the exit code when there is none (4: the app cannot load).</summary>
    public static (LoadedApp? App, int ExitCode) Load(WorkerStartInfo info, WorkerHookRunner hooks)
    {
        // One thread imports the app and runs the poll loop (and, for sync, every request) or the asgi worker's event
        // loop (every request too); gthread adds its threads.
        var threaded = info.WorkerClass is WorkerContract.GThread;
        var threadCount = threaded ? info.Concurrency + 1 : 1;
        if (WorkerContract.IsBuiltinApp(info.App))
        {
            if (BuiltinApps.Find(info.App) is { } builtin)
            {
                return (new LoadedApp(builtin, new ServingThreads(threadCount), () => { }), 0);
            }
            ErrorLog.Error($"App failed to load: no app named \"{info.App}\" in this build. Built-in apps: {WorkerContract.HelloApp}, {WorkerContract.EchoApp}.");
            return (null, WorkerContract.AppLoadError);
        }
        if (info.Python is not { } python)
        {
            ErrorLog.Error($"App failed to load: {info.App} is a Python app but the master located no interpreter for it.");
            return (null, WorkerContract.AppLoadError);
        }
        try
        {
            PythonRuntime.Start(python, [info.Chdir, .. info.PythonPath]);
        }
        catch (Exception e) when (e is DllNotFoundException or PythonException)
        {
            ErrorLog.Error($"App failed to load: cannot start Python {python.Version} from {python.Library}: {e.Message}");
            return (null, WorkerContract.AppLoadError);
        }
        var threads = new ServingThreads(threadCount);
        try
        {
            var wsgi = threads.RunAsync(() => WsgiApplication.Load(info.App, threadCount, threaded, info.Sendfile,
                info.Hooks.PythonTargets(), (Environment.ProcessId, info.Age, info.MasterPid), info.ForwarderHeaders ?? [], info.Asgi, info.GracefulTimeoutSeconds)).GetAwaiter().GetResult();
            hooks.PythonHook = wsgi.RunHook;
            ErrorLog.Debug($"Loaded WSGI app {info.App} with Python {python.Version} ({python.Library})");
            return (new LoadedApp(wsgi, threads, wsgi.Shutdown, wsgi.Stopping, wsgi.AsgiServer), 0);
        }
        catch (PythonException e)
        {
            ErrorLog.Error($"App failed to load: {info.App}\n{(e.Traceback.Length > 0 ? e.Traceback : e.Message)}");
            threads.Dispose();
            return (null, WorkerContract.AppLoadError);
        }
    }
}
