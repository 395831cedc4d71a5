using Python.Runtime;

namespace Gunicorn.Backend.Wsgi;

/// <summary>
/// The embedded interpreter and the threads that run Python: the thread that imports the app and runs the worker's
/// event loop, plus <c>threads</c> more for <c>gthread</c>. Each holds the GIL while it runs Python and releases it
/// around blocking I/O (<see cref="GilReleased"/>); none ever awaits.
/// </summary>
public sealed class PythonThreads : IDisposable
{
    // A plain monitor queue, not BlockingCollection: its SemaphoreSlim spins (sched_yield) before it sleeps, and a
    // profile of a sync worker showed a third of the worker's CPU spent spinning on an empty queue.
    private readonly Queue<Action> _work = new();
    private readonly object _gate = new();
    private bool _closed;
    private readonly List<Thread> _threads = [];

    public PythonThreads(PythonInstallation python, int threads)
    {
        Runtime.PythonDLL = python.Library;
        // Without the interpreter's own path a virtualenv's site-packages would be ignored.
        PythonEngine.ProgramName = python.Executable;
        PythonEngine.Initialize();
        PythonEngine.BeginAllowThreads();
        for (var i = 0; i < threads; i++)
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = $"python-{i}" };
            thread.Start();
            _threads.Add(thread);
        }
    }

    /// <summary>Runs <paramref name="work"/> on a Python thread holding the GIL.</summary>
    public Task<T> RunAsync<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(() =>
        {
            try
            {
                done.SetResult(work());
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        });
        return done.Task;
    }

    /// <summary>Queues <paramref name="item"/> for a Python thread, which runs it holding the GIL; it must not throw.</summary>
    public void Post(Action item)
    {
        lock (_gate)
        {
            _work.Enqueue(item);
            Monitor.Pulse(_gate);
        }
    }

    /// <summary>
    /// Each thread keeps one Python thread state for its whole life (a PyGILState per work item would create and
    /// destroy it every time, and with it the app's threading.local data) and holds the GIL only while it works.
    /// </summary>
    private void Loop()
    {
        using (Py.GIL())
        {
            var state = PythonEngine.BeginAllowThreads();
            try
            {
                while (Take() is { } item)
                {
                    PythonEngine.EndAllowThreads(state);
                    try
                    {
                        item();
                    }
                    finally
                    {
                        state = PythonEngine.BeginAllowThreads();
                    }
                }
            }
            finally
            {
                PythonEngine.EndAllowThreads(state);
            }
        }
    }

    /// <summary>The next work item, sleeping (without spinning) until there is one; null once disposed.</summary>
    private Action? Take()
    {
        lock (_gate)
        {
            while (_work.Count == 0 && !_closed)
            {
                Monitor.Wait(_gate);
            }
            return _work.TryDequeue(out var item) ? item : null;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _closed = true;
            Monitor.PulseAll(_gate);
        }
    }
}

/// <summary>Releases the GIL held by the current thread for the scope of a blocking call (poll, recv, send).</summary>
public readonly struct GilReleased : IDisposable
{
    private readonly nint _state;

    public GilReleased() => _state = PythonEngine.BeginAllowThreads();

    public void Dispose() => PythonEngine.EndAllowThreads(_state);
}
