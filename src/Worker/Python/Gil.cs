namespace Gunicorn.Worker.Python;

/// <summary>
/// The GIL as each serving thread holds it. A thread that runs Python keeps one thread state for its whole life
/// (creating one per request would drop the app's threading.local data and cost an allocation), holds the GIL while
/// it runs Python and releases it around every blocking call (poll, recv, send), so that gthread's threads and the
/// app's own threads run meanwhile. Without an interpreter (a built-in app) every call here does nothing.
/// </summary>
internal static unsafe class Gil
{
    /// <summary>Set once the interpreter is up; before that, and for built-in apps, there is no GIL to handle.</summary>
    public static bool Enabled { get; set; }

    /// <summary>This thread's saved state while it does not hold the GIL; 0 while it holds it.</summary>
    [ThreadStatic] private static nint t_saved;

    /// <summary>True once this thread has its own Python thread state (one of the worker's serving threads).</summary>
    [ThreadStatic] private static bool t_attached;

    /// <summary>Gives this thread its Python thread state for life; returns with the GIL released.</summary>
    public static void AttachThread()
    {
        if (!Enabled || t_attached)
        {
            return;
        }
        CPython.PyGILState_Ensure();
        t_attached = true;
        t_saved = CPython.PyEval_SaveThread();
    }

    /// <summary>Takes the GIL (a serving thread, before it runs Python).</summary>
    public static void Acquire()
    {
        if (t_attached && t_saved != 0)
        {
            CPython.PyEval_RestoreThread(t_saved);
            t_saved = 0;
        }
    }

    /// <summary>Lets the GIL go (a serving thread, when it has no Python to run).</summary>
    public static void Release()
    {
        if (t_attached && t_saved == 0)
        {
            t_saved = CPython.PyEval_SaveThread();
        }
    }

    /// <summary>The GIL released for the scope of a blocking call, and taken back after it.</summary>
    public static Scope Released()
    {
        var held = t_attached && t_saved == 0;
        if (held)
        {
            t_saved = CPython.PyEval_SaveThread();
        }
        return new Scope(held);
    }

    public readonly struct Scope(bool reacquire) : IDisposable
    {
        public void Dispose()
        {
            if (reacquire)
            {
                Acquire();
            }
        }
    }

    /// <summary>
    /// The GIL for a thread that is not a serving thread (a signal handler running a hook), for the scope of a call;
    /// a temporary thread state, as C extensions do with PyGILState_Ensure.
    /// </summary>
    public static Temporary Ensure() => new(Enabled && !t_attached ? CPython.PyGILState_Ensure() : -1);

    public readonly struct Temporary(int state) : IDisposable
    {
        public void Dispose()
        {
            if (state >= 0)
            {
                CPython.PyGILState_Release(state);
            }
        }
    }
}
