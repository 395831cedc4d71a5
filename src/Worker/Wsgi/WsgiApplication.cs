using System.Text;
using Gunicorn.Shared.Contract;
using Gunicorn.Shared.Logging;
using Gunicorn.Worker.Asgi;
using Gunicorn.Worker.Http;
using Gunicorn.Worker.Python;
using Gunicorn.Worker.Server;

namespace Gunicorn.Worker.Wsgi;

/// <summary>
/// A Python WSGI app (<c>module:callable</c>) served through CPython's C API: environ built from the request's bytes,
/// the app called with the thread's start_response, and every block it yields (or passes to write()) sent to the
/// front as it is produced (PEP 3333: no block is delayed); the result's close() is called whatever happens. An
/// exception before the head was sent is a 500 with the traceback in the error log; after it, the connection closes
/// (no second head is possible). The worker keeps serving either way.
/// </summary>
internal sealed unsafe class WsgiApplication : IRequestHandler
{
    private static readonly byte[] InternalErrorBody = "Internal Server Error\n"u8.ToArray();

    private readonly nint _app;
    private readonly nint _runner;
    private readonly WsgiEnviron _environ;
    private readonly bool _sendfile;
    private readonly bool _preRequest, _postRequest;
    /// <summary>An ASGI app: <see cref="_app"/> is its server, whose event loop serves the worker's connections.</summary>
    private readonly bool _asgi;

    private readonly nint _preRequestHook, _postRequestHook, _callHook, _fileWrapperSpan, _shutdown;

    private WsgiApplication(nint app, nint runner, bool multithread, bool sendfile, IReadOnlyDictionary<string, string> hooks,
        IReadOnlyList<string> forwarderHeaders, bool asgi)
    {
        _app = app;
        _runner = runner;
        _sendfile = sendfile;
        _environ = new WsgiEnviron(runner, multithread, forwarderHeaders);
        _asgi = asgi;
        _preRequest = hooks.ContainsKey("pre_request");
        _postRequest = hooks.ContainsKey("post_request");
        _preRequestHook = PythonRuntime.GetAttr(runner, "pre_request").Steal();
        _postRequestHook = PythonRuntime.GetAttr(runner, "post_request").Steal();
        _callHook = PythonRuntime.GetAttr(runner, "call_hook").Steal();
        _fileWrapperSpan = PythonRuntime.GetAttr(runner, "file_wrapper_span").Steal();
        _shutdown = PythonRuntime.GetAttr(runner, "shutdown").Steal();
    }

    /// <summary>
    /// Imports the app on the calling serving thread (which holds the GIL); a failure is a <see cref="PythonException"/>
    /// carrying the traceback. Python hooks are imported first, and post_fork runs before the app loads, as in gunicorn.
    /// </summary>
    public static WsgiApplication Load(string target, int threads, bool multithread, bool sendfile,
        IReadOnlyDictionary<string, string> hooks, (int Pid, int Age, int MasterPid) worker, IReadOnlyList<string> forwarderHeaders,
        AsgiOptions? asgi = null, double gracefulTimeoutSeconds = 30)
    {
        using var runner = PythonRuntime.ExecModule("gunicorn_net_wsgi_runner", ReadRunner());
        WsgiCallbacks.Install(threads, runner.Handle);
        using (var configure = PythonRuntime.GetAttr(runner.Handle, "configure_hooks"))
        using (var args = PythonRuntime.Tuple(
                   PythonRuntime.Str(string.Join("\0", hooks.SelectMany(h => new[] { h.Key, h.Value }))),
                   new PyRef(CPython.PyLong_FromLongLong(worker.Pid)), new PyRef(CPython.PyLong_FromLongLong(worker.Age)),
                   new PyRef(CPython.PyLong_FromLongLong(worker.MasterPid))))
        {
            PythonRuntime.Check(CPython.PyObject_Call(configure.Handle, args.Handle, 0)).Dispose();
        }
        using (var callHook = PythonRuntime.GetAttr(runner.Handle, "call_hook"))
        {
            CallRunner(callHook.Handle, PythonRuntime.Str("post_fork"));
        }
        using var load = PythonRuntime.GetAttr(runner.Handle, "load");
        using var loadArgs = PythonRuntime.Tuple(PythonRuntime.Str(target));
        var app = PythonRuntime.Check(CPython.PyObject_Call(load.Handle, loadArgs.Handle, 0)).Steal();
        var asgiServer = asgi is null ? 0 : LoadAsgiServer(app, runner.Handle, asgi, hooks, forwarderHeaders, gracefulTimeoutSeconds);
        return new WsgiApplication(asgiServer != 0 ? asgiServer : app, runner.Steal(), multithread, sendfile, hooks, forwarderHeaders, asgi is not null);
    }

    /// <summary>
    /// An ASGI app's server (asgi_server.py) over the app the runner imported: its event loop is created and the
    /// lifespan's startup runs here, on the thread that will run the loop.
    /// </summary>
    /// <param name="gracefulTimeoutSeconds">graceful_timeout: the bound on the lifespan's shutdown at exit.</param>
    private static nint LoadAsgiServer(nint app, nint runner, AsgiOptions asgi, IReadOnlyDictionary<string, string> hooks,
        IReadOnlyList<string> forwarderHeaders, double gracefulTimeoutSeconds)
    {
        using var owned = new PyRef(app);
        using var websocket = PythonRuntime.ExecModule("gunicorn_net_asgi_websocket", ReadResource("asgi_websocket.py"));
        using var server = PythonRuntime.ExecModule("gunicorn_net_asgi_server", ReadResource("asgi_server.py"));
        AsgiCallbacks.Install(server.Handle, new AsgiScope(asgi.RootPath, forwarderHeaders));
        using var load = PythonRuntime.GetAttr(server.Handle, "load");
        PyRef Hook(string name) => hooks.ContainsKey(name) ? PythonRuntime.GetAttr(runner, name) : PyRef.Borrowed(CPython.None);
        using var args = PythonRuntime.Tuple(PyRef.Borrowed(app), PythonRuntime.Str(asgi.Loop), PythonRuntime.Str(asgi.Lifespan),
            PythonRuntime.Str(asgi.DisconnectGraceSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            PythonRuntime.Str(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{asgi.WebSocketMaxMessage} {asgi.WebSocketPingInterval} {asgi.WebSocketPingTimeout}")),
            Hook("pre_request"), Hook("post_request"),
            PythonRuntime.Str(gracefulTimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        return PythonRuntime.Check(CPython.PyObject_Call(load.Handle, args.Handle, 0)).Steal();
    }

    /// <summary>The ASGI server object (asgi_server.Server) when the app is an ASGI app; 0 for a WSGI app.</summary>
    public nint AsgiServer => _asgi ? _app : 0;

    /// <summary>
    /// Runs a worker-side python: hook (post_fork, post_worker_init, worker_int, worker_abort, worker_exit) on the
    /// calling thread: the serving threads may be busy, and gunicorn too runs these from signal handlers.
    /// </summary>
    public void RunHook(string name)
    {
        using var gil = Gil.Ensure();
        using var args = PythonRuntime.Tuple(PythonRuntime.Str(name));
        var result = CPython.PyObject_Call(_callHook, args.Handle, 0);
        if (result == 0)
        {
            ErrorLog.Error($"Exception in {name} hook\n{PythonRuntime.FetchError().Traceback}");
            return;
        }
        CPython.Py_DecRef(result);
    }

    /// <summary>A graceful exit: the app's atexit handlers run and its buffered output is flushed.</summary>
    /// <summary>
    /// The worker was told to stop: an ASGI app's open WebSockets are closed with 1001 (going away) now, so their
    /// clients reconnect to the workers that stay while the ordinary requests in flight finish.
    /// </summary>
    public void Stopping()
    {
        if (!_asgi)
        {
            return;
        }
        using var gil = Gil.Ensure();
        using var close = PythonRuntime.GetAttr(_app, "_close_sessions");
        using var args = PythonRuntime.Tuple();
        var result = CPython.PyObject_Call(close.Handle, args.Handle, 0);
        if (result == 0)
        {
            ErrorLog.Error($"Exception closing WebSockets\n{PythonRuntime.FetchError().Traceback}");
            return;
        }
        CPython.Py_DecRef(result);
    }

    public void Shutdown()
    {
        using var gil = Gil.Ensure();
        using var args = PythonRuntime.Tuple();
        var result = CPython.PyObject_Call(_shutdown, args.Handle, 0);
        if (result == 0)
        {
            ErrorLog.Error($"Exception at exit\n{PythonRuntime.FetchError().Traceback}");
            return;
        }
        CPython.Py_DecRef(result);
    }

    public void Serve(Http1Connection connection, ResponseWriter response)
    {
        var slot = WsgiCallbacks.Slots[ServingThreads.CurrentIndex];
        slot.Begin(connection);
        PyRef environ = default;
        try
        {
            environ = _environ.Build(connection, slot);
            if (_preRequest)
            {
                CallRunner(_preRequestHook, PyRef.Borrowed(environ.Handle));
            }
            using var args = PythonRuntime.Tuple(PyRef.Borrowed(environ.Handle), PyRef.Borrowed(slot.StartResponse));
            using var result = PythonRuntime.Check(CPython.PyObject_Call(_app, args.Handle, 0));
            try
            {
                SendResult(slot, result.Handle, response);
            }
            finally
            {
                Close(result.Handle, connection.Request);
            }
        }
        catch (PythonException e)
        {
            Failed(slot, connection.Request, response, e);
        }
        finally
        {
            if (_postRequest && !environ.IsNull)
            {
                PostRequest(slot, environ.Handle, response);
            }
            environ.Dispose();
            slot.End();
        }
    }

    /// <summary>Sends what the app returned: a list at once with its length, a FileWrapper by sendfile, anything else block by block.</summary>
    private void SendResult(RequestSlot slot, nint result, ResponseWriter response)
    {
        if (CPython.IsList(result) || CPython.IsTuple(result))
        {
            SendSequence(slot, result, response);
            return;
        }
        if (_sendfile && CPython.PyObject_IsInstance(result, _environ.FileWrapperType) == 1 && TrySendFile(slot, result, response))
        {
            return;
        }
        using var iterator = PythonRuntime.Check(CPython.PyObject_GetIter(result));
        nint item;
        while ((item = CPython.PyIter_Next(iterator.Handle)) != 0)
        {
            using var block = new PyRef(item);
            SendBlock(slot, item);
        }
        if (CPython.PyErr_Occurred() != 0)
        {
            throw PythonRuntime.FetchError();
        }
        ApplyHead(slot, response);
    }

    /// <summary>A list or tuple of bytes: the body is complete, so it goes out in one send with its Content-Length.</summary>
    private static void SendSequence(RequestSlot slot, nint sequence, ResponseWriter response)
    {
        var list = CPython.IsList(sequence);
        var count = (int)(list ? CPython.PyList_Size(sequence) : CPython.PyTuple_Size(sequence));
        Span<Syscalls.IoVec> blocks = count <= 16 ? stackalloc Syscalls.IoVec[count] : new Syscalls.IoVec[count];
        for (var i = 0; i < count; i++)
        {
            var item = list ? CPython.PyList_GetItem(sequence, i) : CPython.PyTuple_GetItem(sequence, i);
            blocks[i] = BytesOf(item);
        }
        ApplyHead(slot, response);
        response.WriteComplete(blocks);
    }

    /// <summary>A wsgi.file_wrapper over a regular file: the head, then sendfile(2) from the file's position.</summary>
    private bool TrySendFile(RequestSlot slot, nint wrapper, ResponseWriter response)
    {
        using var args = PythonRuntime.Tuple(PyRef.Borrowed(wrapper));
        using var span = PythonRuntime.Check(CPython.PyObject_Call(_fileWrapperSpan, args.Handle, 0));
        if (span.Handle == CPython.None)
        {
            return false;
        }
        var fd = (int)CPython.PyLong_AsLongLong(CPython.PyTuple_GetItem(span.Handle, 0));
        var offset = CPython.PyLong_AsLongLong(CPython.PyTuple_GetItem(span.Handle, 1));
        var size = CPython.PyLong_AsLongLong(CPython.PyTuple_GetItem(span.Handle, 2));
        ApplyHead(slot, response);
        var wanted = response.DeclaredLength >= 0 ? Math.Min(response.DeclaredLength, size) : size;
        response.SendFile(fd, offset, wanted);
        return true;
    }

    /// <summary>One block from the app (yielded or passed to write()): sent now, the head first if it has not gone yet.</summary>
    public static void SendBlock(RequestSlot slot, nint item)
    {
        var block = BytesOf(item);
        if (block.Length == 0)
        {
            return;
        }
        var response = slot.Response!;
        ApplyHead(slot, response);
        response.Write(new ReadOnlySpan<byte>(block.Base, (int)block.Length));
    }

    private static Syscalls.IoVec BytesOf(nint item)
    {
        if (!CPython.IsBytes(item))
        {
            PythonRuntime.Raise(CPython.TypeError, $"the app must yield bytes (PEP 3333), not {Type(item)}");
            throw PythonRuntime.FetchError();
        }
        byte* data;
        nint length;
        CPython.PyBytes_AsStringAndSize(item, &data, &length);
        return new Syscalls.IoVec { Base = data, Length = (nuint)length };
    }

    private static string Type(nint o)
    {
        using var type = new PyRef(CPython.PyObject_GetAttrString(*(nint*)(o + sizeof(nint)), (byte*)TypeName));
        if (type.IsNull)
        {
            CPython.PyErr_Clear();
            return "an object";
        }
        return PythonRuntime.Describe(type.Handle);
    }

    private static readonly nint TypeName = System.Runtime.InteropServices.Marshal.StringToCoTaskMemUTF8("__name__");

    /// <summary>Formats start_response's status and headers into the response head (once, before the first block).</summary>
    private static void ApplyHead(RequestSlot slot, ResponseWriter response)
    {
        if (slot.HeadApplied)
        {
            return;
        }
        if (slot.Status == 0)
        {
            PythonRuntime.Raise(CPython.AssertionError, "the app returned (or yielded data) without calling start_response()");
            throw PythonRuntime.FetchError();
        }
        try
        {
            using (var status = Latin1Of(slot.Status, "the status"))
            {
                response.Start(status.Span);
            }
            var headers = slot.Headers;
            var list = CPython.IsList(headers);
            var count = list ? CPython.PyList_Size(headers) : CPython.PyTuple_Size(headers);
            for (nint i = 0; i < count; i++)
            {
                var pair = list ? CPython.PyList_GetItem(headers, i) : CPython.PyTuple_GetItem(headers, i);
                if (!CPython.IsTuple(pair) || CPython.PyTuple_Size(pair) != 2)
                {
                    throw new FormatException("each response header must be a (name, value) tuple");
                }
                using var name = Latin1Of(CPython.PyTuple_GetItem(pair, 0), "a header name");
                using var value = Latin1Of(CPython.PyTuple_GetItem(pair, 1), "a header value");
                response.AddHeader(name.Span, value.Span);
            }
        }
        catch (FormatException e)
        {
            PythonRuntime.Raise(CPython.AssertionError, e.Message);
            throw PythonRuntime.FetchError();
        }
        slot.HeadApplied = true;
    }

    /// <summary>The latin-1 bytes of a str: CPython's cached UTF-8 when it is ASCII (no copy), else an encoded copy.</summary>
    private static Latin1Text Latin1Of(nint str, string what)
    {
        if (!CPython.IsStr(str))
        {
            throw new FormatException($"{what} must be a str, not {Type(str)}");
        }
        nint length;
        var utf8 = CPython.PyUnicode_AsUTF8AndSize(str, &length);
        if (utf8 is not null && !new ReadOnlySpan<byte>(utf8, (int)length).ContainsAnyExceptInRange((byte)0, (byte)0x7F))
        {
            return new Latin1Text(default, utf8, (int)length);
        }
        CPython.PyErr_Clear();
        var encoded = new PyRef(CPython.PyUnicode_AsLatin1String(str));
        if (encoded.IsNull)
        {
            CPython.PyErr_Clear();
            throw new FormatException($"{what} is not latin-1 text (PEP 3333)");
        }
        byte* data;
        CPython.PyBytes_AsStringAndSize(encoded.Handle, &data, &length);
        return new Latin1Text(encoded, data, (int)length);
    }

    private readonly struct Latin1Text(PyRef owner, byte* data, int length) : IDisposable
    {
        public ReadOnlySpan<byte> Span => new(data, length);

        public void Dispose() => owner.Dispose();
    }

    /// <summary>The app failed: 500 when nothing was sent yet, otherwise the connection closes.</summary>
    private static void Failed(RequestSlot slot, Http1Request request, ResponseWriter response, PythonException e)
    {
        if (slot.ClientGone)
        {
            // The front went away while the app wrote (its client disconnected): gunicorn's "Ignoring EPIPE".
            ErrorLog.Debug($"Ignoring a closed connection while answering {request.TargetText}");
            throw new ConnectionLostException("write", 32);
        }
        ErrorLog.Error($"Error handling request {request.TargetText}\n{(e.Traceback.Length > 0 ? e.Traceback : e.Message)}");
        if (response.HeadSent)
        {
            response.Fail();
            return;
        }
        response.Start("500 Internal Server Error"u8);
        response.AddHeader("Content-Type"u8, "text/plain"u8);
        response.AddHeader("Connection"u8, "close"u8);
        response.Write(InternalErrorBody);
    }

    /// <summary>PEP 3333: the result's close() is called whatever happened; its errors are logged.</summary>
    private static void Close(nint result, Http1Request request)
    {
        if (CPython.IsExactListOrTuple(result))
        {
            // The usual answer has no close(); asking would raise and clear an AttributeError per request (1-2 us).
            return;
        }
        var close = CPython.PyObject_GetAttrString(result, (byte*)CloseName);
        if (close == 0)
        {
            CPython.PyErr_Clear();
            return;
        }
        using var method = new PyRef(close);
        using var args = PythonRuntime.Tuple();
        var done = CPython.PyObject_Call(close, args.Handle, 0);
        if (done == 0)
        {
            ErrorLog.Error($"Error closing the response of {request.TargetText}\n{PythonRuntime.FetchError().Traceback}");
            return;
        }
        CPython.Py_DecRef(done);
    }

    private static readonly nint CloseName = System.Runtime.InteropServices.Marshal.StringToCoTaskMemUTF8("close");

    private static void CallRunner(nint function, PyRef argument)
    {
        using var args = PythonRuntime.Tuple(argument);
        PythonRuntime.Check(CPython.PyObject_Call(function, args.Handle, 0)).Dispose();
    }

    private void PostRequest(RequestSlot slot, nint environ, ResponseWriter response)
    {
        using var status = slot.Status != 0 ? PyRef.Borrowed(slot.Status) : PythonRuntime.Str(response.Status > 0 ? $"{response.Status}" : "500 Internal Server Error");
        using var headers = slot.Headers != 0 ? PyRef.Borrowed(slot.Headers) : PyRef.Borrowed(CPython.None);
        using var args = PythonRuntime.Tuple(PyRef.Borrowed(environ), PyRef.Borrowed(status.Handle), PyRef.Borrowed(headers.Handle),
            new PyRef(CPython.PyLong_FromLongLong(response.BytesSent)));
        var result = CPython.PyObject_Call(_postRequestHook, args.Handle, 0);
        if (result == 0)
        {
            ErrorLog.Error($"Exception in post_request hook\n{PythonRuntime.FetchError().Traceback}");
            return;
        }
        CPython.Py_DecRef(result);
    }

    private static string ReadRunner() => ReadResource("wsgi_runner.py");

    private static string ReadResource(string name)
    {
        using var stream = typeof(WsgiApplication).Assembly.GetManifestResourceStream(name)!;
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }
}
