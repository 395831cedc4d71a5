using Gunicorn.Worker.Http;
using Gunicorn.Worker.Python;

namespace Gunicorn.Worker.Wsgi;

/// <summary>
/// What one serving thread is doing for the app: the request it serves, and what the app has told it through
/// start_response. The app's callbacks (start_response, write, wsgi.input) find it by the thread's index. Each thread
/// has its own start_response and write objects, made once: nothing is allocated per request for them.
/// </summary>
internal sealed class RequestSlot(int index)
{
    public int Index { get; } = index;

    public Http1Connection? Connection { get; private set; }

    public ResponseWriter? Response => Connection?.Response;

    /// <summary>Changes with every request, so that a wsgi.input kept past its request cannot read the next one's body.</summary>
    public long Serial { get; private set; }

    /// <summary>The handle a wsgi.input of this request carries: the serial and the slot's index.</summary>
    public long InputHandle => (Serial << IndexBits) | (uint)Index;

    /// <summary>Bits of the handle that name the slot: an asgi worker may have worker_connections serving threads.</summary>
    public const int IndexBits = 24;

    /// <summary>The status and headers from start_response (owned references; 0 until called).</summary>
    public nint Status, Headers;

    /// <summary>The head has been formatted into the response (it goes out with the first block).</summary>
    public bool HeadApplied;

    /// <summary>A send failed because the front went away: the app's resulting exception is not its fault.</summary>
    public bool ClientGone;

    /// <summary>This thread's start_response and write callables (owned for the process's life).</summary>
    public nint StartResponse, Write;

    public void Begin(Http1Connection connection)
    {
        Connection = connection;
        Serial++;
        HeadApplied = false;
        ClientGone = false;
    }

    /// <summary>Releases what the app gave for this request (with the GIL held).</summary>
    public unsafe void End()
    {
        Connection = null;
        Serial++;
        ClearHead();
    }

    public unsafe void ClearHead()
    {
        if (Status != 0)
        {
            CPython.Py_DecRef(Status);
            Status = 0;
        }
        if (Headers != 0)
        {
            CPython.Py_DecRef(Headers);
            Headers = 0;
        }
    }
}
