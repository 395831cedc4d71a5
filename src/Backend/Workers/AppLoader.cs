using Gunicorn.Backend.Contract;
using Gunicorn.Backend.Logging;
using Gunicorn.Backend.Wsgi;
using Gunicorn.Settings.Types;
using Microsoft.AspNetCore.Builder;
using Python.Runtime;

namespace Gunicorn.Backend.Workers;

/// <summary>
/// Puts the configured app behind the worker's socket: a built-in app (<c>@hello</c>, <c>@echo</c>) or a Python
/// WSGI app (<c>module:callable</c>). ASP.NET Core apps (<c>App.dll</c>) do not come here: the arbiter runs them
/// with <c>dotnet</c> and an injected startup hook (Arbiter/AspNetCoreApp.cs). The seam for ASGI apps is here.
/// </summary>
internal static class AppLoader
{
    /// <summary>Returns null when the app is mapped, otherwise the exit code (3: cannot boot, 4: app cannot load).</summary>
    public static async Task<int?> MapAsync(WebApplication app, WorkerStartInfo info, WorkerHookRunner hooks)
    {
        if (BuiltinApps.IsBuiltin(info.App))
        {
            if (BuiltinApps.TryMap(app, info.App))
            {
                return null;
            }
            ErrorLog.Error($"App failed to load: no app named \"{info.App}\" in this build. Built-in apps: {BuiltinApps.Hello}, {BuiltinApps.Echo}.");
            return WorkerContract.AppLoadError;
        }
        return await MapWsgiAsync(app, info, hooks);
    }

    private static async Task<int?> MapWsgiAsync(WebApplication app, WorkerStartInfo info, WorkerHookRunner hooks)
    {
        PythonInstallation python;
        try
        {
            python = PythonLocator.Locate(info.Python);
        }
        catch (InvalidOperationException e)
        {
            ErrorLog.Error($"Worker (pid:{Environment.ProcessId}) failed to boot: {e.Message}");
            return WorkerContract.WorkerBootError;
        }
        var threads = new PythonThreads(python, info.WorkerClass == WorkerClassType.GThread ? info.Concurrency : 1);
        try
        {
            var wsgi = await WsgiApplication.LoadAsync(threads, info.App, [info.Chdir, .. info.PythonPath],
                multithread: info.WorkerClass == WorkerClassType.GThread, info.Hooks.PythonTargets(),
                (Environment.ProcessId, info.Age, info.MasterPid));
            hooks.PythonHook = wsgi.RunHook;
            app.Run(wsgi.ServeAsync);
            ErrorLog.Debug($"Loaded WSGI app {info.App} with Python {python.Version} ({python.Library})");
            return null;
        }
        catch (PythonException e)
        {
            ErrorLog.Error($"App failed to load: {info.App}\n{e.Format()}");
            return WorkerContract.AppLoadError;
        }
    }
}
