using System.Text;

namespace Gunicorn.Worker.Python;

/// <summary>What the WSGI environ and the ASGI scope builders share: storing into a dict, and method names as strs.</summary>
internal static unsafe class PyDicts
{
    /// <summary>Stores a new reference (released here; the dict keeps its own).</summary>
    public static void Set(nint dict, nint key, nint value)
    {
        using var owned = PythonRuntime.Check(value);
        SetBorrowed(dict, key, value);
    }

    public static void SetBorrowed(nint dict, nint key, nint value)
    {
        if (CPython.PyDict_SetItem(dict, key, value) != 0)
        {
            throw PythonRuntime.FetchError();
        }
    }
}

/// <summary>The common request methods as interned strs, made once: a request's method costs no new str.</summary>
internal sealed unsafe class KnownMethods
{
    private readonly Dictionary<string, nint> _methods = new[] { "GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS" }
        .ToDictionary(m => m, PythonRuntime.Interned);

    /// <summary>A new reference to the method's str.</summary>
    public nint Str(ReadOnlySpan<byte> method)
    {
        Span<char> chars = stackalloc char[Math.Min(method.Length, 16)];
        if (method.Length <= 16)
        {
            Encoding.Latin1.GetChars(method, chars);
            foreach (var (name, value) in _methods)
            {
                if (chars.SequenceEqual(name))
                {
                    CPython.Py_IncRef(value);
                    return value;
                }
            }
        }
        return PythonRuntime.Latin1(method);
    }
}
