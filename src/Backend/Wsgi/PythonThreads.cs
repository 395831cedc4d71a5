using Python.Runtime;

namespace Gunicorn.Backend.Wsgi;

/// <summary>
/// The embedded interpreter and the threads that run Python: one for <c>sync</c>, <c>threads</c> for
/// <c>gthread</c>. Each takes the GIL per work item and never holds it across an await; Kestrel's threads only
/// hand them work.
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
        Enqueue(() =>
        {
            try
            {
                using (Py.GIL())
                {
                    done.SetResult(work());
                }
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        });
        return done.Task;
    }

    private void Enqueue(Action item)
    {
        lock (_gate)
        {
            _work.Enqueue(item);
            Monitor.Pulse(_gate);
        }
    }

    private void Loop()
    {
        while (Take() is { } item)
        {
            item();
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
