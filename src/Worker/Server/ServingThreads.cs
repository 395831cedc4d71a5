using Gunicorn.Worker.Python;

namespace Gunicorn.Worker.Server;

/// <summary>
/// The threads that serve requests: the first runs the worker's event loop (and, for a sync worker, every request),
/// the others are gthread's. Each keeps its Python thread state for life and holds the GIL only while it runs Python
/// (see <see cref="Gil"/>). They wait on a plain monitor, never spinning: a profile of a sync worker once showed a
/// third of its CPU spinning on an empty queue. Threads start when work finds none idle, up to the count: an asgi
/// worker may take worker_connections requests at once, but an idle one holds only the threads it has needed.
/// </summary>
internal sealed class ServingThreads : IDisposable
{
    private readonly Queue<Action> _work = new();
    private readonly object _gate = new();
    private readonly List<Thread> _threads = [];
    private readonly int _limit;
    private int _idle;
    private bool _closed;

    public ServingThreads(int count)
    {
        _limit = count;
        lock (_gate)
        {
            StartThread();
        }
    }

    /// <summary>Starts the next serving thread; the caller holds the gate.</summary>
    private void StartThread()
    {
        var index = _threads.Count;
        var thread = new Thread(() => Loop(index)) { IsBackground = true, Name = $"serving-{index}" };
        _threads.Add(thread);
        thread.Start();
    }

    /// <summary>The index of the serving thread running the caller (0 for the loop thread); -1 on other threads.</summary>
    [ThreadStatic] private static int t_index;

    public static int CurrentIndex => t_index - 1;

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _threads.Count;
            }
        }
    }

    /// <summary>Runs <paramref name="work"/> on a serving thread holding the GIL; its exception is the task's.</summary>
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

    /// <summary>Queues <paramref name="item"/> for a serving thread, which runs it holding the GIL; it must not throw.</summary>
    public void Post(Action item)
    {
        lock (_gate)
        {
            _work.Enqueue(item);
            if (_idle < _work.Count && _threads.Count < _limit)
            {
                StartThread();
            }
            Monitor.Pulse(_gate);
        }
    }

    private void Loop(int index)
    {
        t_index = index + 1;
        Gil.AttachThread();
        while (Take() is { } item)
        {
            Gil.Acquire();
            try
            {
                item();
            }
            finally
            {
                Gil.Release();
            }
        }
    }

    /// <summary>The next work item, sleeping until there is one; null once disposed.</summary>
    private Action? Take()
    {
        lock (_gate)
        {
            while (_work.Count == 0 && !_closed)
            {
                _idle++;
                Monitor.Wait(_gate);
                _idle--;
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
