using System.Net.Sockets;
using System.Runtime.InteropServices;
using Gunicorn.Backend.Contract;
using Gunicorn.Backend.Logging;
using Gunicorn.Backend.Platform;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gunicorn.Backend.Workers;

/// <summary>
/// A worker process: hosts the app on its Unix socket, reports readiness and heartbeats to the master, and obeys
/// gunicorn's worker signals: TERM finishes in-flight requests within graceful_timeout, INT and QUIT exit at once.
/// </summary>
public static class WorkerMain
{
    public static async Task<int> RunAsync()
    {
        var info = WorkerContract.Deserialize(Environment.GetEnvironmentVariable(WorkerContract.StartInfoVariable)!);
        if (info.CaptureOutput && info.ErrorLog != ErrorLog.StderrPath)
        {
            // The app's prints (and native writes) go to the error log, as gunicorn's capture_output.
            Posix.RedirectOutput(info.ErrorLog);
        }
        ErrorLog.Configure(info.LogLevel, info.ErrorLog);
        ProcessTitle.Set(info.Title);
        var pipeHandle = Environment.GetEnvironmentVariable(WorkerContract.PipeVariable);
        // The variables are for this process only; the app and its children must not see them.
        Environment.SetEnvironmentVariable(WorkerContract.StartInfoVariable, null);
        Environment.SetEnvironmentVariable(WorkerContract.PipeVariable, null);

        WebApplication app;
        try
        {
            if (info.Identity is { } identity)
            {
                WorkerIdentities.Apply(identity);
            }
            Directory.SetCurrentDirectory(info.Chdir);
            app = Build(info);
        }
        catch (Exception e)
        {
            // Whatever stops a worker from booting must reach the master as exit code 3, never as a crash.
            ErrorLog.Error($"Worker (pid:{Environment.ProcessId}) failed to boot: {e.Message}");
            return WorkerContract.WorkerBootError;
        }
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        using var pipe = pipeHandle is null ? null : new MasterPipe(pipeHandle, info.MaxRequests, lifetime.StopApplication);
        app.Use(async (context, next) =>
        {
            try
            {
                Gunicorn.AspNetWorker.FrontPeer.Take(context);
                await next(context);
            }
            finally
            {
                pipe?.CountRequest();
            }
        });
        var hooks = new WorkerHookRunner(info);
        if (await AppLoader.MapAsync(app, info, hooks) is { } loadFailure)
        {
            return loadFailure;
        }
        using var signals = new WorkerSignals(lifetime, hooks);
        try
        {
            await app.StartAsync();
        }
        catch (Exception e)
        {
            ErrorLog.Error($"Worker (pid:{Environment.ProcessId}) failed to boot: cannot listen on {info.SocketPath}: {e.Message}");
            return WorkerContract.WorkerBootError;
        }
        File.SetUnixFileMode(info.SocketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        pipe?.ReportReady(WorkerContract.HeartbeatInterval(info.TimeoutSeconds));
        ErrorLog.Debug($"Worker ready on {info.SocketPath}");
        hooks.Run("post_worker_init", info.Hooks.PostWorkerInit);
        await app.WaitForShutdownAsync();
        ErrorLog.Info($"Worker exiting (pid: {Environment.ProcessId})");
        hooks.Run("worker_exit", info.Hooks.WorkerExit);
        return 0;
    }

    private static WebApplication Build(WorkerStartInfo info)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<IHostLifetime, NoSignalLifetime>();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(info.GracefulTimeoutSeconds));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = null; // the front enforces client_max_body_size
            // The front has checked every header; take its bytes as they are (obs-text is latin-1, as in WSGI).
            kestrel.Limits.MaxRequestBufferSize = null;
            kestrel.Limits.MaxRequestHeadersTotalSize = 64 * 1024 * 1024;
            kestrel.Limits.MaxRequestHeaderCount = 65536;
            kestrel.Limits.MaxRequestLineSize = 64 * 1024;
            kestrel.RequestHeaderEncodingSelector = _ => System.Text.Encoding.Latin1;
            kestrel.ResponseHeaderEncodingSelector = _ => System.Text.Encoding.Latin1;
            kestrel.ListenUnixSocket(info.SocketPath);
        });
        return builder.Build();
    }
}
