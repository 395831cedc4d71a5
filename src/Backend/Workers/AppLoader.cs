using Gunicorn.Backend.Contract;
using Gunicorn.Backend.Logging;
using Gunicorn.Backend.Wsgi;
using Gunicorn.Settings.Types;
using Python.Runtime;

namespace Gunicorn.Backend.Workers;

/// <summary>
/// Loads the configured app and the host that serves it: a built-in app (<c>@hello</c>, <c>@echo</c>) on Kestrel, or a
/// Python WSGI app (<c>module:callable</c>) on <see cref="WsgiServer"/>. ASP.NET Core apps (<c>App.dll</c>) do not
/// come here: the arbiter runs them with <c>dotnet</c> and an injected startup hook (Arbiter/AspNetCoreApp.cs). The
/// seam for ASGI apps is here.
/// </summary>
internal static class AppLoader
{
    /// <summary>The host, or the exit code when there is none (3: cannot boot, 4: app cannot load).</summary>
    public static async Task<(IWorkerHost? Host, int ExitCode)> LoadAsync(WorkerStartInfo info, WorkerHookRunner hooks, Action requestDone)
    {
        if (BuiltinApps.IsBuiltin(info.App))
        {
            if (KestrelWorkerHost.Create(info, requestDone) is { } host)
            {
                return (host, 0);
            }
            ErrorLog.Error($"App failed to load: no app named \"{info.App}\" in this build. Built-in apps: {BuiltinApps.Hello}, {BuiltinApps.Echo}.");
            return (null, WorkerContract.AppLoadError);
        }
        return await LoadWsgiAsync(info, hooks, requestDone);
    }

    private static async Task<(IWorkerHost? Host, int ExitCode)> LoadWsgiAsync(WorkerStartInfo info, WorkerHookRunner hooks, Action requestDone)
    {
        PythonInstallation python;
        try
        {
            python = PythonLocator.Locate(info.Python);
        }
        catch (InvalidOperationException e)
        {
            ErrorLog.Error($"Worker (pid:{Environment.ProcessId}) failed to boot: {e.Message}");
            return (null, WorkerContract.WorkerBootError);
        }
        var threaded = info.WorkerClass == WorkerClassType.GThread;
        // One thread imports the app and runs the event loop (and, for sync, every request); gthread adds its threads.
        var threads = new PythonThreads(python, threaded ? info.Concurrency + 1 : 1);
        try
        {
            var wsgi = await WsgiApplication.LoadAsync(threads, info.App, [info.Chdir, .. info.PythonPath],
                multithread: threaded, info.Hooks.PythonTargets(), (Environment.ProcessId, info.Age, info.MasterPid));
            hooks.PythonHook = wsgi.RunHook;
            ErrorLog.Debug($"Loaded WSGI app {info.App} with Python {python.Version} ({python.Library})");
            return (WsgiWorkerHost.Create(threads, wsgi, info, requestDone), 0);
        }
        catch (PythonException e)
        {
            ErrorLog.Error($"App failed to load: {info.App}\n{e.Format()}");
            return (null, WorkerContract.AppLoadError);
        }
    }
}
