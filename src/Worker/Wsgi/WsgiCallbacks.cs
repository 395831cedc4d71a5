using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Gunicorn.Worker.Http;
using Gunicorn.Worker.Python;

namespace Gunicorn.Worker.Wsgi;

/// <summary>
/// The functions the app calls back into the worker: start_response, write, and wsgi.input's reads. They are C entry
/// points (<see cref="UnmanagedCallersOnly"/>) wrapped as Python builtins (PyCFunction), called with the GIL held.
/// Every exception is caught and becomes a Python exception raised in the app; none may cross into CPython.
/// </summary>
internal static unsafe class WsgiCallbacks
{
    /// <summary>The slots of the serving threads, by thread index.</summary>
    public static RequestSlot[] Slots { get; private set; } = [];

    private static nint _startResponseDef, _writeDef, _readDef, _readlineDef;

    /// <summary>Makes the method definitions (in native memory, never freed, as CPython requires) and each thread's callables.</summary>
    public static void Install(int threads, nint runnerModule)
    {
        _startResponseDef = Define("start_response", (delegate* unmanaged[Cdecl]<nint, nint, nint>)&StartResponse, CPython.MethVarargs);
        _writeDef = Define("write", (delegate* unmanaged[Cdecl]<nint, nint, nint>)&Write, CPython.MethO);
        _readDef = Define("_read", (delegate* unmanaged[Cdecl]<nint, nint, nint>)&Read, CPython.MethVarargs);
        _readlineDef = Define("_readline", (delegate* unmanaged[Cdecl]<nint, nint, nint>)&ReadLine, CPython.MethVarargs);
        Slots = new RequestSlot[threads];
        for (var i = 0; i < threads; i++)
        {
            var slot = new RequestSlot(i);
            using var self = PythonRuntime.Check(CPython.PyLong_FromLongLong(i));
            slot.StartResponse = PythonRuntime.Check(CPython.PyCFunction_NewEx(_startResponseDef, self.Handle, 0)).Steal();
            slot.Write = PythonRuntime.Check(CPython.PyCFunction_NewEx(_writeDef, self.Handle, 0)).Steal();
            Slots[i] = slot;
        }
        using (var read = PythonRuntime.Check(CPython.PyCFunction_NewEx(_readDef, 0, 0)))
        {
            PythonRuntime.SetAttr(runnerModule, "_read", read.Handle);
        }
        using (var readline = PythonRuntime.Check(CPython.PyCFunction_NewEx(_readlineDef, 0, 0)))
        {
            PythonRuntime.SetAttr(runnerModule, "_readline", readline.Handle);
        }
    }

    /// <summary>A PyMethodDef { name, function, flags, doc } in native memory.</summary>
    private static nint Define(string name, void* function, int flags)
    {
        var definition = (nint*)NativeMemory.AllocZeroed(4, (nuint)sizeof(nint));
        definition[0] = Marshal.StringToCoTaskMemUTF8(name);
        definition[1] = (nint)function;
        *(int*)&definition[2] = flags;
        return (nint)definition;
    }

    /// <summary>start_response(status, response_headers, exc_info=None), as PEP 3333 defines it.</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nint StartResponse(nint self, nint args)
    {
        try
        {
            var slot = Slots[(int)CPython.PyLong_AsLongLong(self)];
            var count = CPython.PyTuple_Size(args);
            if (count is < 2 or > 3)
            {
                return PythonRuntime.Raise(CPython.TypeError, "start_response() takes status, response_headers and an optional exc_info");
            }
            var status = CPython.PyTuple_GetItem(args, 0);
            var headers = CPython.PyTuple_GetItem(args, 1);
            var excInfo = count == 3 ? CPython.PyTuple_GetItem(args, 2) : CPython.None;
            if (excInfo != CPython.None)
            {
                if (slot.Response?.HeadSent == true)
                {
                    // PEP 3333: too late to change the response; re-raise the app's error.
                    var type = CPython.PyTuple_GetItem(excInfo, 0);
                    var value = CPython.PyTuple_GetItem(excInfo, 1);
                    var traceback = CPython.PyTuple_GetItem(excInfo, 2);
                    CPython.Py_IncRef(type);
                    CPython.Py_IncRef(value);
                    CPython.Py_IncRef(traceback);
                    CPython.PyErr_Restore(type, value, traceback);
                    return 0;
                }
            }
            else if (slot.Status != 0)
            {
                return PythonRuntime.Raise(CPython.AssertionError, "start_response called a second time without exc_info");
            }
            if (!CPython.IsStr(status))
            {
                return PythonRuntime.Raise(CPython.TypeError, "the status must be a str, e.g. '200 OK'");
            }
            if (!CPython.IsList(headers) && !CPython.IsTuple(headers))
            {
                return PythonRuntime.Raise(CPython.TypeError, "response_headers must be a list of (name, value) tuples");
            }
            slot.ClearHead();
            slot.HeadApplied = false;
            CPython.Py_IncRef(status);
            CPython.Py_IncRef(headers);
            slot.Status = status;
            slot.Headers = headers;
            CPython.Py_IncRef(slot.Write);
            return slot.Write;
        }
        catch (Exception e)
        {
            return PythonRuntime.Raise(CPython.RuntimeError, $"start_response failed: {e.Message}");
        }
    }

    /// <summary>The write() callable start_response returns: sends one block now (the head first, if not yet sent).</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nint Write(nint self, nint data)
    {
        try
        {
            var slot = Slots[(int)CPython.PyLong_AsLongLong(self)];
            if (slot.Connection is null || slot.Status == 0)
            {
                return PythonRuntime.Raise(CPython.AssertionError, "write() before start_response()");
            }
            WsgiApplication.SendBlock(slot, data);
            CPython.Py_IncRef(CPython.None);
            return CPython.None;
        }
        catch (PythonException)
        {
            return 0; // the Python error is set
        }
        catch (ConnectionLostException e)
        {
            Slots[(int)CPython.PyLong_AsLongLong(self)].ClientGone = true;
            return PythonRuntime.Raise(CPython.OSError, $"the client went away: {e.Message}");
        }
        catch (Exception e)
        {
            return PythonRuntime.Raise(CPython.RuntimeError, e.Message);
        }
    }

    /// <summary>wsgi.input.read(size): up to size bytes of the body (all that is left when size is negative).</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nint Read(nint self, nint args) => ReadBody(args, line: false);

    /// <summary>wsgi.input.readline(size).</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nint ReadLine(nint self, nint args) => ReadBody(args, line: true);

    private static nint ReadBody(nint args, bool line)
    {
        try
        {
            var handle = CPython.PyLong_AsLongLong(CPython.PyTuple_GetItem(args, 0));
            var size = CPython.PyLong_AsLongLong(CPython.PyTuple_GetItem(args, 1));
            var slot = Slots[(int)(handle & ((1 << RequestSlot.IndexBits) - 1))];
            if (slot.Connection is not { } connection || slot.Serial != handle >> RequestSlot.IndexBits)
            {
                return PythonRuntime.Raise(CPython.ValueError, "I/O operation on the input of a finished request");
            }
            return line ? ReadLineInto(connection.Body, size) : ReadInto(connection.Body, size);
        }
        catch (BadRequestException e)
        {
            return PythonRuntime.Raise(CPython.OSError, $"cannot read the request body: {e.Message}");
        }
        catch (ConnectionLostException e)
        {
            return PythonRuntime.Raise(CPython.OSError, $"the client went away: {e.Message}");
        }
        catch (Exception e)
        {
            return PythonRuntime.Raise(CPython.RuntimeError, e.Message);
        }
    }

    private static nint ReadInto(RequestBody body, long size)
    {
        if (size < 0 && body.Remaining >= 0)
        {
            size = body.Remaining; // a Content-Length body: one bytes object of exactly what is left
        }
        if (size >= 0)
        {
            // Received straight into the bytes object the app gets.
            var length = (int)Math.Min(Math.Min(size, body.Remaining >= 0 ? body.Remaining : size), Array.MaxLength);
            using var bytes = PythonRuntime.Check(CPython.PyBytes_FromStringAndSize(null, length));
            byte* target;
            nint capacity;
            CPython.PyBytes_AsStringAndSize(bytes.Handle, &target, &capacity);
            var filled = 0;
            while (filled < length)
            {
                var read = body.Read(new Span<byte>(target + filled, length - filled));
                if (read == 0)
                {
                    break;
                }
                filled += read;
            }
            if (filled == length)
            {
                return PyRef.Borrowed(bytes.Handle).Steal();
            }
            return PythonRuntime.Bytes(new ReadOnlySpan<byte>(target, filled));
        }
        // A chunked body, read to its end.
        using var all = new MemoryStream();
        Span<byte> block = stackalloc byte[16 * 1024];
        int got;
        while ((got = body.Read(block)) > 0)
        {
            all.Write(block[..got]);
        }
        return PythonRuntime.Bytes(all.GetBuffer().AsSpan(0, (int)all.Length));
    }

    private static nint ReadLineInto(RequestBody body, long size) =>
        PythonRuntime.Bytes(body.ReadLine(size < 0 ? -1 : (int)Math.Min(size, int.MaxValue)));
}
