using Gunicorn.Backend.Contract;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gunicorn.Backend.Workers;

/// <summary>A built-in .NET app (<c>@hello</c>, <c>@echo</c>) on Kestrel, listening on the worker's socket.</summary>
internal sealed class KestrelWorkerHost(WebApplication app) : IWorkerHost
{
    /// <summary>The host for a built-in app; null when no built-in app has that name.</summary>
    public static KestrelWorkerHost? Create(WorkerStartInfo info, Action requestDone)
    {
        var app = Build(info);
        app.Use(async (context, next) =>
        {
            try
            {
                Gunicorn.AspNetWorker.FrontPeer.Take(context);
                await next(context);
            }
            finally
            {
                requestDone();
            }
        });
        return BuiltinApps.TryMap(app, info.App) ? new KestrelWorkerHost(app) : null;
    }

    public Task StartAsync() => app.StartAsync();

    /// <summary>Kestrel serves requests concurrently: one slow request never stops it from taking others.</summary>
    public bool IsResponsive(TimeSpan interval) => true;

    public async Task ServeUntilStoppedAsync(CancellationToken stopping)
    {
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        using var registration = stopping.Register(lifetime.StopApplication);
        await app.WaitForShutdownAsync();
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
