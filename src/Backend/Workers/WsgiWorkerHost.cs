using Gunicorn.Backend.Contract;
using Gunicorn.Backend.Logging;
using Gunicorn.Backend.Wsgi;
using Gunicorn.Settings.Types;

namespace Gunicorn.Backend.Workers;

/// <summary>A Python WSGI app served by <see cref="WsgiServer"/> on the worker's socket.</summary>
internal sealed class WsgiWorkerHost(WsgiServer server, TimeSpan gracefulTimeout) : IWorkerHost
{
    public Task StartAsync()
    {
        server.Start();
        return Task.CompletedTask;
    }

    public bool IsResponsive(TimeSpan interval) => server.BusyFor() is not { } busy || busy <= interval;

    public async Task ServeUntilStoppedAsync(CancellationToken stopping)
    {
        var stopRequested = new TaskCompletionSource();
        using var registration = stopping.Register(() =>
        {
            server.Stop();
            stopRequested.TrySetResult();
        });
        await Task.WhenAny(server.Completion, stopRequested.Task);
        try
        {
            await server.Completion.WaitAsync(gracefulTimeout);
        }
        catch (TimeoutException)
        {
            ErrorLog.Warning($"Worker (pid:{Environment.ProcessId}) still serving after graceful_timeout ({gracefulTimeout.TotalSeconds:0.#} s); exiting anyway");
        }
    }

    public static WsgiWorkerHost Create(PythonThreads python, WsgiApplication app, WorkerStartInfo info, Action requestDone) =>
        new(new WsgiServer(info.SocketPath, app, python, threaded: info.WorkerClass == WorkerClassType.GThread, requestDone),
            TimeSpan.FromSeconds(info.GracefulTimeoutSeconds));
}
