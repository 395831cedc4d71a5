using System.Net.Sockets;
using Gunicorn.Worker.Python;
using Gunicorn.Worker.Server;

namespace Gunicorn.Worker.Asgi;

/// <summary>
/// The asgi worker's server: the app's event loop (asgi_server.py) runs on the worker's serving thread and owns the
/// listener and every connection, calling the worker's HTTP code (<see cref="AsgiCallbacks"/>) as sockets become
/// readable. One thread serves every request of the worker, as uvicorn's loop does, with no hand-off per request.
/// </summary>
internal sealed unsafe class AsgiServer(string socketPath, nint server, ServingThreads threads, Action requestDone) : IWorkerServer
{
    private Socket? _listener;

    public Task Completion { get; private set; } = Task.CompletedTask;

    public void Start()
    {
        _listener = WorkerListener.Open(socketPath);
        AsgiCallbacks.OnRequestDone(requestDone);
        var listenerFd = (long)_listener.Handle;
        Completion = threads.RunAsync(() =>
        {
            try
            {
                using var serve = PythonRuntime.GetAttr(server, "serve");
                using var args = PythonRuntime.Tuple(new PyRef(CPython.PyLong_FromLongLong(listenerFd)));
                PythonRuntime.Check(CPython.PyObject_Call(serve.Handle, args.Handle, 0)).Dispose();
            }
            finally
            {
                AsgiCallbacks.CloseAll();
                _listener.Dispose();
            }
            return 0;
        });
    }

    public void Stop()
    {
        AsgiCallbacks.BeginStopping();
        using var gil = Gil.Ensure();
        using var stop = PythonRuntime.GetAttr(server, "stop_threadsafe");
        using var args = PythonRuntime.Tuple();
        PythonRuntime.Check(CPython.PyObject_Call(stop.Handle, args.Handle, 0)).Dispose();
    }

    /// <summary>How long the event loop has missed its tick: an app blocking the loop stops the heartbeat (WORKER TIMEOUT).</summary>
    public TimeSpan? BusyFor() => Completion.IsCompleted ? null : AsgiCallbacks.Stalled();

    public void Dispose() => _listener?.Dispose();
}
