using System.Text;
using Gunicorn.Shared.Contract;

namespace Gunicorn.Worker.Python;

/// <summary>A Python exception, with its traceback formatted as Python prints it.</summary>
internal sealed class PythonException(string typeName, string message, string traceback) : Exception($"{typeName}: {message}")
{
    public string TypeName { get; } = typeName;

    /// <summary>"Traceback (most recent call last): ..." as <c>traceback.format_exception</c> writes it.</summary>
    public string Traceback { get; } = traceback;
}

/// <summary>
/// The embedded interpreter: loaded from the library the master located, started without Python's own signal
/// handlers (the worker's signals mean what gunicorn says), with the interpreter's own prefix so that a virtualenv's
/// site-packages are found. Helpers here turn C API results into .NET values and errors.
/// </summary>
internal static unsafe class PythonRuntime
{
    private static nint _formatException;

    /// <summary>Loads and starts CPython on the calling thread, which then lets the GIL go.</summary>
    /// <exception cref="DllNotFoundException">The library cannot be loaded.</exception>
    public static void Start(PythonInterpreter interpreter, IEnumerable<string> searchPath)
    {
        CPython.Load(interpreter.Library);
        // Without the interpreter's own path CPython would find its prefix through `python3` on PATH: another
        // install's standard library under this libpython, or a virtualenv's site-packages ignored.
        var program = Encoding.UTF8.GetBytes(interpreter.Executable + "\0");
        fixed (byte* p = program)
        {
            CPython.Py_SetProgramName(CPython.Py_DecodeLocale(p, 0)); // kept for the process's life, as CPython requires
        }
        CPython.Py_InitializeEx(0); // 0: no Python signal handlers
        Gil.Enabled = true;
        using (var sys = Import("sys"))
        using (var path = GetAttr(sys.Handle, "path"))
        using (var insert = GetAttr(path.Handle, "insert"))
        {
            foreach (var directory in searchPath.Reverse())
            {
                using var args = Tuple(new PyRef(CPython.PyLong_FromLongLong(0)), Str(directory));
                Check(CPython.PyObject_Call(insert.Handle, args.Handle, 0)).Dispose();
            }
        }
        using (var traceback = Import("traceback"))
        {
            _formatException = GetAttr(traceback.Handle, "format_exception").Steal();
        }
        CPython.PyEval_SaveThread(); // the main thread's state stays saved; serving threads attach their own
    }

    /// <summary>Runs <paramref name="source"/> as a module named <paramref name="name"/>; returns the module.</summary>
    public static PyRef ExecModule(string name, string source)
    {
        var code = Encoding.UTF8.GetBytes(source + "\0");
        var file = Encoding.UTF8.GetBytes($"<{name}>\0");
        var moduleName = Encoding.UTF8.GetBytes(name + "\0");
        fixed (byte* c = code, f = file, n = moduleName)
        {
            using var compiled = Check(CPython.Py_CompileString(c, f, CPython.FileInput));
            return Check(CPython.PyImport_ExecCodeModule(n, compiled.Handle));
        }
    }

    public static PyRef Import(string module)
    {
        var bytes = Encoding.UTF8.GetBytes(module + "\0");
        fixed (byte* p = bytes)
        {
            return Check(CPython.PyImport_ImportModule(p));
        }
    }

    public static PyRef GetAttr(nint target, string name)
    {
        var bytes = Encoding.UTF8.GetBytes(name + "\0");
        fixed (byte* p = bytes)
        {
            return Check(CPython.PyObject_GetAttrString(target, p));
        }
    }

    public static void SetAttr(nint target, string name, nint value)
    {
        var bytes = Encoding.UTF8.GetBytes(name + "\0");
        fixed (byte* p = bytes)
        {
            if (CPython.PyObject_SetAttrString(target, p, value) != 0)
            {
                throw FetchError();
            }
        }
    }

    /// <summary>A str from UTF-8 .NET text.</summary>
    public static PyRef Str(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        fixed (byte* p = bytes)
        {
            return Check(CPython.PyUnicode_FromStringAndSize(p, bytes.Length));
        }
    }

    /// <summary>An interned str, for keys used on every request (dict lookups then compare pointers).</summary>
    public static nint Interned(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text + "\0");
        fixed (byte* p = bytes)
        {
            return Check(CPython.PyUnicode_InternFromString(p)).Steal();
        }
    }

    /// <summary>A str from latin-1 bytes (what PEP 3333 asks environ values to be).</summary>
    public static nint Latin1(ReadOnlySpan<byte> bytes)
    {
        fixed (byte* p = bytes)
        {
            return CPython.PyUnicode_DecodeLatin1(p, bytes.Length, null);
        }
    }

    public static nint Bytes(ReadOnlySpan<byte> bytes)
    {
        fixed (byte* p = bytes)
        {
            return CPython.PyBytes_FromStringAndSize(p, bytes.Length);
        }
    }

    /// <summary>A tuple that takes over the given references (a span: no array is allocated per call).</summary>
    public static PyRef Tuple(params ReadOnlySpan<PyRef> items)
    {
        var tuple = Check(CPython.PyTuple_New(items.Length));
        for (var i = 0; i < items.Length; i++)
        {
            CPython.PyTuple_SetItem(tuple.Handle, i, items[i].Handle);
        }
        return tuple;
    }

    /// <summary>The text of a str (UTF-8 of CPython's cached form).</summary>
    public static string Text(nint str)
    {
        nint length;
        var utf8 = CPython.PyUnicode_AsUTF8AndSize(str, &length);
        if (utf8 is null)
        {
            throw FetchError();
        }
        return Encoding.UTF8.GetString(utf8, (int)length);
    }

    /// <summary>str(o), never throwing (for messages).</summary>
    public static string Describe(nint o)
    {
        var str = CPython.PyObject_Str(o);
        if (str == 0)
        {
            CPython.PyErr_Clear();
            return "<unprintable>";
        }
        using var owned = new PyRef(str);
        try
        {
            return Text(str);
        }
        catch (PythonException)
        {
            return "<unprintable>";
        }
    }

    /// <summary>A new reference, or the pending Python error as an exception.</summary>
    public static PyRef Check(nint result) => result != 0 ? new PyRef(result) : throw FetchError();

    /// <summary>Takes the pending Python error (clearing it) and formats its traceback.</summary>
    public static PythonException FetchError()
    {
        nint type, value, traceback;
        CPython.PyErr_Fetch(&type, &value, &traceback);
        if (type == 0)
        {
            return new PythonException("SystemError", "an error was reported without an exception", "");
        }
        CPython.PyErr_NormalizeException(&type, &value, &traceback);
        using var t = new PyRef(type);
        using var v = new PyRef(value);
        using var tb = new PyRef(traceback);
        using var typeName = new PyRef(CPython.PyObject_GetAttrString(type, (byte*)NameAttribute));
        var name = typeName.IsNull ? "Exception" : Describe(typeName.Handle);
        CPython.PyErr_Clear();
        return new PythonException(name, value == 0 ? "" : Describe(value), FormatTraceback(type, value, traceback));
    }

    private static readonly nint NameAttribute = System.Runtime.InteropServices.Marshal.StringToCoTaskMemUTF8("__name__");

    private static string FormatTraceback(nint type, nint value, nint traceback)
    {
        if (_formatException == 0)
        {
            return "";
        }
        CPython.Py_IncRef(type);
        CPython.Py_IncRef(value == 0 ? CPython.None : value);
        CPython.Py_IncRef(traceback == 0 ? CPython.None : traceback);
        using var args = Tuple(new PyRef(type), new PyRef(value == 0 ? CPython.None : value), new PyRef(traceback == 0 ? CPython.None : traceback));
        var lines = CPython.PyObject_Call(_formatException, args.Handle, 0);
        if (lines == 0)
        {
            CPython.PyErr_Clear();
            return "";
        }
        using var list = new PyRef(lines);
        var text = new StringBuilder();
        var count = CPython.PyList_Size(lines);
        for (nint i = 0; i < count; i++)
        {
            text.Append(Describe(CPython.PyList_GetItem(lines, i)));
        }
        return text.ToString();
    }

    /// <summary>Sets a Python exception from a callback (which then returns NULL so that the app sees it raised).</summary>
    public static nint Raise(nint type, string message)
    {
        var bytes = Encoding.UTF8.GetBytes(message + "\0");
        fixed (byte* p = bytes)
        {
            CPython.PyErr_SetString(type, p);
        }
        return 0;
    }
}
