using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Gunicorn.Shared.Logging;
using Gunicorn.Worker.Http;
using Gunicorn.Worker.Python;

namespace Gunicorn.Worker.Asgi;

/// <summary>
/// The worker's HTTP, called by the asgi server's event loop (asgi_server.py) on its one thread, with the GIL held:
/// accept, read a request head and its body without ever waiting (the loop calls only when a socket is readable),
/// write the response (blocking sends, the GIL released, to a front that reads at local speed), frame its end.
/// Connections are known by descriptor. C entry points (<see cref="UnmanagedCallersOnly"/>) wrapped as Python
/// builtins; every exception is caught and becomes a Python exception.
/// </summary>
internal static unsafe partial class AsgiCallbacks
{
    /// <summary>Unread request body drained to keep a connection; beyond it the connection closes.</summary>
    private const long DrainLimit = 256 * 1024;

    /// <summary>A body chunk handed to the app at most this large (more follows with more_body).</summary>
    private const int ChunkSize = 64 * 1024;

    private static readonly byte[] BadRequest =
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nBad Request\n"u8.ToArray();
    private static readonly byte[] InternalErrorBody = "Internal Server Error\n"u8.ToArray();

    private static readonly Dictionary<int, Http1Connection> Connections = [];
    private static AsgiScope? _scope;
    private static Action _requestDone = () => { };
    private static long _lastTick;
    private static volatile bool _stopping;

    /// <summary>Makes the builtins (definitions in never-freed native memory, as CPython requires) in <paramref name="module"/>.</summary>
    public static void Install(nint module, AsgiScope scope)
    {
        _scope = scope;
        Define(module, "native_accept", (delegate* unmanaged[Cdecl]<nint, nint, nint>)&Accept, CPython.MethO);
        Define(module, "native_request", (delegate* unmanaged[Cdecl]<nint, nint, nint>)&Request, CPython.MethO);
        Define(module, "native_read", (delegate* unmanaged[Cdecl]<nint, nint, nint>)&Read, CPython.MethO);
        Define(module, "native_peer_closed", (delegate* unmanaged[Cdecl]<nint, nint, nint>)&PeerClosed, CPython.MethO);
        Define(module, "native_start", (delegate* unmanaged[Cdecl]<nint, nint, nint>)&Start, CPython.MethVarargs);
        Define(module, "native_write", (delegate* unmanaged[Cdecl]<nint, nint, nint>)&Write, CPython.MethVarargs);
        Define(module, "native_sendfile", (delegate* unmanaged[Cdecl]<nint, nint, nint>)&SendFile, CPython.MethVarargs);
        Define(module, "native_fail", (delegate* unmanaged[Cdecl]<nint, nint, nint>)&Fail, CPython.MethVarargs);
        Define(module, "native_finish", (delegate* unmanaged[Cdecl]<nint, nint, nint>)&Finish, CPython.MethVarargs);
        Define(module, "native_close", (delegate* unmanaged[Cdecl]<nint, nint, nint>)&Close, CPython.MethO);
        Define(module, "native_detach", (delegate* unmanaged[Cdecl]<nint, nint, nint>)&Detach, CPython.MethO);
        Define(module, "native_tick", (delegate* unmanaged[Cdecl]<nint, nint, nint>)&Tick, CPython.MethNoArgs);
    }

    /// <summary>Called after each response (the master's request count, max_requests).</summary>
    public static void OnRequestDone(Action requestDone) => _requestDone = requestDone;

    /// <summary>From any thread: responses from now on close their connections.</summary>
    public static void BeginStopping() => _stopping = true;

    /// <summary>How long the event loop has gone without its once-a-second tick (null before it runs, or when on time).</summary>
    public static TimeSpan? Stalled()
    {
        var last = Volatile.Read(ref _lastTick);
        if (last == 0)
        {
            return null;
        }
        var late = Stopwatch.GetElapsedTime(last) - TimeSpan.FromSeconds(1);
        return late > TimeSpan.Zero ? late : null;
    }

    /// <summary>Closes the connections the loop left (it has stopped); called holding the GIL.</summary>
    public static void CloseAll()
    {
        foreach (var connection in Connections.Values)
        {
            connection.Dispose();
        }
        Connections.Clear();
    }

    private static void Define(nint module, string name, void* function, int flags)
    {
        var definition = (nint*)NativeMemory.AllocZeroed(4, (nuint)sizeof(nint));
        definition[0] = Marshal.StringToCoTaskMemUTF8(name);
        definition[1] = (nint)function;
        *(int*)&definition[2] = flags;
        using var callable = PythonRuntime.Check(CPython.PyCFunction_NewEx((nint)definition, 0, 0));
        PythonRuntime.SetAttr(module, name, callable.Handle);
    }

    /// <summary>accept(listener) -> [fd, ...] of the connections waiting; None when the worker must pause accepting.</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nint Accept(nint self, nint listener) => Guard(listener, static listener =>
    {
        var listenerFd = (int)CPython.PyLong_AsLongLong(listener);
        using var accepted = PythonRuntime.Check(CPython.PyList_New(0));
        while (true)
        {
            var fd = Syscalls.Accept(listenerFd, out var errno);
            if (fd >= 0)
            {
                Connections[fd] = new Http1Connection(fd) { NonBlocking = true };
                using var number = PythonRuntime.Check(CPython.PyLong_FromLongLong(fd));
                CPython.PyList_Append(accepted.Handle, number.Handle);
                continue;
            }
            if (errno != Syscalls.WouldBlock && CPython.PyList_Size(accepted.Handle) == 0)
            {
                // Out of descriptors (EMFILE): the loop stops accepting for a moment rather than spin on the listener.
                ErrorLog.Warning($"Worker (pid:{Environment.ProcessId}) cannot accept a connection (errno {errno}); pausing accepts for 100 ms.");
                return NewNone();
            }
            return PyRef.Borrowed(accepted.Handle).Steal();
        }
    });

    /// <summary>
    /// request(fd) -> (scope, body, more_body) for a request whose head has arrived; None while it is incomplete;
    /// False when the connection is done (closed by the front between requests, or a bad request answered 400).
    /// </summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nint Request(nint self, nint fd) => Guard(fd, static fd =>
    {
        var connection = Find(fd);
        try
        {
            if (!connection.ReadHead())
            {
                return NewBool(false);
            }
        }
        catch (WouldBlockException)
        {
            return NewNone();
        }
        catch (BadRequestException e)
        {
            ErrorLog.Warning($"Invalid request on the worker socket, answered 400: {e.Message}");
            TrySend(connection, BadRequest);
            return NewBool(false);
        }
        catch (ConnectionLostException)
        {
            return NewBool(false);
        }
        var request = connection.Request;
        var websocket = AsgiScope.IsWebSocket(request);
        connection.Response.Begin(request, keepAlive: !_stopping);
        PyRef body;
        try
        {
            // What of the body came with the head (no receive, but a partial chunk line may try one).
            body = websocket ? PythonRuntime.Tuple(new PyRef(PythonRuntime.Bytes([])), PyRef.Borrowed(CPython.False)) : ReadBody(connection, bufferedOnly: true);
        }
        catch (BodyCutShortException)
        {
            return NewBool(false);
        }
        catch (BadRequestException e)
        {
            ErrorLog.Warning($"Invalid request body on the worker socket, answered 400: {e.Message}");
            TrySend(connection, BadRequest);
            return NewBool(false);
        }
        catch (ConnectionLostException)
        {
            return NewBool(false);
        }
        using var owned = body;
        using var scope = _scope!.Build(request, websocket);
        var result = PythonRuntime.Check(CPython.PyTuple_New(3));
        CPython.PyTuple_SetItem(result.Handle, 0, PyRef.Borrowed(scope.Handle).Steal());
        CPython.PyTuple_SetItem(result.Handle, 1, PyRef.Borrowed(CPython.PyTuple_GetItem(owned.Handle, 0)).Steal());
        CPython.PyTuple_SetItem(result.Handle, 2, PyRef.Borrowed(CPython.PyTuple_GetItem(owned.Handle, 1)).Steal());
        return result.Steal();
    });

    /// <summary>
    /// read(fd) -> (bytes, more_body) with what has arrived of the body; None when nothing has yet (wait until the
    /// socket is readable); False when the front went away. A malformed body raises OSError.
    /// </summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nint Read(nint self, nint fd) => Guard(fd, static fd =>
    {
        try
        {
            return ReadBody(Find(fd), bufferedOnly: false).Steal();
        }
        catch (WouldBlockException)
        {
            return NewNone();
        }
        catch (ConnectionLostException)
        {
            return NewBool(false);
        }
        catch (BodyCutShortException)
        {
            return NewBool(false);
        }
        catch (BadRequestException e)
        {
            return PythonRuntime.Raise(CPython.OSError, $"cannot read the request body: {e.Message}");
        }
    });

    /// <summary>
    /// What has arrived of the body as (bytes, more_body): a Content-Length body already whole is one bytes object of
    /// exactly its size; otherwise up to <see cref="ChunkSize"/> bytes. <paramref name="bufferedOnly"/>: no receive.
    /// Throws <see cref="WouldBlockException"/> when nothing at all is there yet.
    /// </summary>
    private static PyRef ReadBody(Http1Connection connection, bool bufferedOnly)
    {
        var body = connection.Body;
        if (body.Finished)
        {
            return PythonRuntime.Tuple(new PyRef(PythonRuntime.Bytes([])), PyRef.Borrowed(CPython.False));
        }
        if (body.Remaining >= 0 && connection.Buffered.Length >= body.Remaining)
        {
            using var whole = PythonRuntime.Check(CPython.PyBytes_FromStringAndSize(null, (nint)body.Remaining));
            byte* target;
            nint length;
            CPython.PyBytes_AsStringAndSize(whole.Handle, &target, &length);
            body.Read(new Span<byte>(target, (int)length)); // all of it is buffered: one copy
            return PythonRuntime.Tuple(PyRef.Borrowed(whole.Handle), PyRef.Borrowed(CPython.False));
        }
        var chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            var total = 0;
            try
            {
                while (total < ChunkSize && !body.Finished && !(bufferedOnly && connection.Buffered.IsEmpty))
                {
                    var read = body.Read(chunk.AsSpan(total, ChunkSize - total));
                    if (read == 0)
                    {
                        break;
                    }
                    total += read;
                }
            }
            catch (WouldBlockException) when (total > 0 || bufferedOnly)
            {
                // what has arrived goes to the app now; the rest when the socket is readable again
            }
            return PythonRuntime.Tuple(new PyRef(PythonRuntime.Bytes(chunk.AsSpan(0, total))),
                PyRef.Borrowed(body.Finished ? CPython.False : CPython.True));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    /// <summary>peer_closed(fd) -> whether the front has closed the connection (its client went away).</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nint PeerClosed(nint self, nint fd) => Guard(fd, static fd => NewBool(Syscalls.PeerClosed(Find(fd).Fd)));

    /// <summary>close(fd): the connection is done.</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nint Close(nint self, nint fd) => Guard(fd, static fd =>
    {
        if (Connections.Remove((int)CPython.PyLong_AsLongLong(fd), out var connection))
        {
            connection.Dispose();
        }
        return NewNone();
    });

    /// <summary>detach(fd) -> fd: the connection becomes a WebSocket's, whose session owns the descriptor from now on.</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nint Detach(nint self, nint fd) => Guard(fd, static fd =>
    {
        var connection = Find(fd);
        Connections.Remove(connection.Fd);
        return CPython.PyLong_FromLongLong(connection.Detach());
    });

    /// <summary>tick(): the loop is alive (once a second); a loop stuck in an app's blocking call stops the heartbeat.</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nint Tick(nint self, nint unused)
    {
        Volatile.Write(ref _lastTick, Stopwatch.GetTimestamp());
        return NewNone();
    }

    private static Http1Connection Find(nint fd)
    {
        var number = (int)CPython.PyLong_AsLongLong(fd);
        return Connections.TryGetValue(number, out var connection)
            ? connection
            : throw new InvalidOperationException($"no open connection with descriptor {number}");
    }

    private static ReadOnlySpan<byte> BytesOf(nint bytes)
    {
        byte* data;
        nint length;
        CPython.PyBytes_AsStringAndSize(bytes, &data, &length);
        return new ReadOnlySpan<byte>(data, (int)length);
    }

    private static void TrySend(Http1Connection connection, byte[] bytes)
    {
        try
        {
            connection.Send(bytes);
        }
        catch (ConnectionLostException)
        {
            // gone already
        }
    }

    private static nint NewNone()
    {
        CPython.Py_IncRef(CPython.None);
        return CPython.None;
    }

    private static nint NewBool(bool value)
    {
        var result = value ? CPython.True : CPython.False;
        CPython.Py_IncRef(result);
        return result;
    }

    /// <summary>Runs a callback's body (a static lambda: nothing allocated per call); an exception becomes a Python RuntimeError raised in the caller.</summary>
    private static nint Guard(nint argument, Func<nint, nint> body)
    {
        try
        {
            return body(argument);
        }
        catch (Exception e)
        {
            // A PythonException was fetched (and cleared) on the way: raise it again, in the app, as text.
            return PythonRuntime.Raise(CPython.RuntimeError, e.Message);
        }
    }
}
