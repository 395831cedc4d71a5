using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Gunicorn.Shared.Logging;
using Gunicorn.Worker.Http;
using Gunicorn.Worker.Python;

namespace Gunicorn.Worker.Asgi;

/// <summary>The response half of the asgi worker's callbacks: the app's send() messages, and the request's end.</summary>
internal static unsafe partial class AsgiCallbacks
{
    /// <summary>start(fd, status, headers): http.response.start; the head goes out with the first body bytes.</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nint Start(nint self, nint args) => Guard(args, static args =>
    {
        var response = Find(CPython.PyTuple_GetItem(args, 0)).Response;
        var status = CPython.PyLong_AsLongLong(CPython.PyTuple_GetItem(args, 1));
        if (status is < 100 or > 999)
        {
            CPython.PyErr_Clear();
            return PythonRuntime.Raise(CPython.ValueError, "http.response.start needs a status code from 100 to 999");
        }
        var headers = CPython.PyTuple_GetItem(args, 2);
        var list = CPython.IsList(headers);
        if (!list && !CPython.IsTuple(headers))
        {
            return PythonRuntime.Raise(CPython.TypeError, "the response headers must be a list of [name, value] byte pairs");
        }
        try
        {
            response.Start(StatusLines.For((int)status));
            var count = list ? CPython.PyList_Size(headers) : CPython.PyTuple_Size(headers);
            for (nint i = 0; i < count; i++)
            {
                var pair = list ? CPython.PyList_GetItem(headers, i) : CPython.PyTuple_GetItem(headers, i);
                var pairIsList = CPython.IsList(pair);
                if (!(pairIsList || CPython.IsTuple(pair)) || (pairIsList ? CPython.PyList_Size(pair) : CPython.PyTuple_Size(pair)) != 2)
                {
                    return PythonRuntime.Raise(CPython.TypeError, "each response header must be a [name, value] pair of bytes");
                }
                var name = pairIsList ? CPython.PyList_GetItem(pair, 0) : CPython.PyTuple_GetItem(pair, 0);
                var value = pairIsList ? CPython.PyList_GetItem(pair, 1) : CPython.PyTuple_GetItem(pair, 1);
                if (!CPython.IsBytes(name) || !CPython.IsBytes(value))
                {
                    return PythonRuntime.Raise(CPython.TypeError, "response header names and values must be bytes (ASGI)");
                }
                response.AddHeader(BytesOf(name), BytesOf(value));
            }
        }
        catch (FormatException e)
        {
            return PythonRuntime.Raise(CPython.ValueError, e.Message);
        }
        return NewNone();
    });

    /// <summary>write(fd, body, more_body): http.response.body, sent now (a whole body in one send, with its length).</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nint Write(nint self, nint args) => Guard(args, static args =>
    {
        var response = Find(CPython.PyTuple_GetItem(args, 0)).Response;
        var data = CPython.PyTuple_GetItem(args, 1);
        var more = CPython.PyObject_IsTrue(CPython.PyTuple_GetItem(args, 2)) == 1;
        if (!CPython.IsBytes(data))
        {
            return PythonRuntime.Raise(CPython.TypeError, "http.response.body's body must be bytes");
        }
        var bytes = BytesOf(data);
        try
        {
            if (!more && !response.HeadSent && response.DeclaredLength < 0)
            {
                fixed (byte* p = bytes)
                {
                    // The whole body in one message: its length is known, so no chunked framing.
                    Span<Syscalls.IoVec> block = [new Syscalls.IoVec { Base = p, Length = (nuint)bytes.Length }];
                    response.WriteComplete(block);
                }
            }
            else
            {
                response.Write(bytes);
            }
        }
        catch (ConnectionLostException e)
        {
            return PythonRuntime.Raise(CPython.OSError, $"the client went away: {e.Message}");
        }
        return NewNone();
    });

    /// <summary>sendfile(fd, file_fd, size): http.response.pathsend, the file sent by the kernel (zero copy).</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nint SendFile(nint self, nint args) => Guard(args, static args =>
    {
        var response = Find(CPython.PyTuple_GetItem(args, 0)).Response;
        var fileFd = (int)CPython.PyLong_AsLongLong(CPython.PyTuple_GetItem(args, 1));
        var size = CPython.PyLong_AsLongLong(CPython.PyTuple_GetItem(args, 2));
        try
        {
            response.SendFile(fileFd, 0, response.DeclaredLength >= 0 ? Math.Min(response.DeclaredLength, size) : size);
        }
        catch (ConnectionLostException e)
        {
            return PythonRuntime.Raise(CPython.OSError, $"the client went away: {e.Message}");
        }
        return NewNone();
    });

    /// <summary>fail(fd, traceback): the app failed; 500 when nothing was sent yet, otherwise the response is cut.</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nint Fail(nint self, nint args) => Guard(args, static args =>
    {
        var connection = Find(CPython.PyTuple_GetItem(args, 0));
        var detail = PythonRuntime.Text(CPython.PyTuple_GetItem(args, 1));
        ErrorLog.Error($"Error handling request {connection.Request.TargetText}\n{detail}");
        var response = connection.Response;
        if (response.HeadSent)
        {
            response.Fail();
            return NewNone();
        }
        try
        {
            // A whole response with its length; the connection then closes (finish is told the app's one failed).
            response.Start("500 Internal Server Error"u8);
            response.AddHeader("Content-Type"u8, "text/plain"u8);
            response.AddHeader("Connection"u8, "close"u8);
            fixed (byte* body = InternalErrorBody)
            {
                response.WriteComplete([new Syscalls.IoVec { Base = body, Length = (nuint)InternalErrorBody.Length }]);
            }
        }
        catch (ConnectionLostException)
        {
            // gone already
        }
        return NewNone();
    });

    /// <summary>
    /// finish(fd, complete) -> whether the connection may serve another request: frames the response's end (never
    /// for an incomplete one, which must not pass for whole), drains a small unread body, counts the request.
    /// </summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nint Finish(nint self, nint args) => Guard(args, static args =>
    {
        var connection = Find(CPython.PyTuple_GetItem(args, 0));
        var complete = CPython.PyObject_IsTrue(CPython.PyTuple_GetItem(args, 1)) == 1;
        var keepAlive = false;
        try
        {
            if (complete)
            {
                keepAlive = connection.Response.Finish();
                // What the app left unread is drained if it is here already, or the connection closes.
                keepAlive = keepAlive && connection.Body.Drain(connection.ContinueSent || !connection.Request.ExpectContinue ? DrainLimit : 0);
            }
        }
        catch (Exception e) when (e is ConnectionLostException or BadRequestException or WouldBlockException)
        {
            keepAlive = false;
        }
        finally
        {
            _requestDone();
        }
        return NewBool(keepAlive);
    });
}
