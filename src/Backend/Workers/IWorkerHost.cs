namespace Gunicorn.Backend.Workers;

/// <summary>What serves a worker's socket: Kestrel for the built-in .NET apps, <see cref="Wsgi.WsgiServer"/> for WSGI apps.</summary>
internal interface IWorkerHost
{
    /// <summary>Listens on the worker's Unix socket; throws when it cannot (the worker then exits 3).</summary>
    Task StartAsync();

    /// <summary>Serves until <paramref name="stopping"/> fires, then lets in-flight requests finish within graceful_timeout.</summary>
    Task ServeUntilStoppedAsync(CancellationToken stopping);

    /// <summary>False while the app has been busy with one request for longer than <paramref name="interval"/>
    /// and cannot take another (a sync worker): its heartbeat then stops and the master's timeout applies.</summary>
    bool IsResponsive(TimeSpan interval);
}
