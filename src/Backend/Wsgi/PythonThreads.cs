using System.Collections.Concurrent;
using Python.Runtime;

namespace Gunicorn.Backend.Wsgi;

/// <summary>
/// The embedded interpreter and the threads that run Python: one for <c>sync</c>, <c>threads</c> for
/// <c>gthread</c>. Each takes the GIL per work item and never holds it across an await; Kestrel's threads only
/// hand them work.
/// </summary>
public sealed class PythonThreads : IDisposable
{
    private readonly BlockingCollection<Action> _work = new();
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
        _work.Add(() =>
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

    private void Loop()
    {
        foreach (var item in _work.GetConsumingEnumerable())
        {
            item();
        }
    }

    public void Dispose() => _work.CompleteAdding();
}
