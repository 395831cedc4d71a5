using System.Runtime.InteropServices;

namespace Gunicorn.Worker.Python;

/// <summary>
/// The part of CPython's C API the worker uses, called through function pointers resolved from the libpython the
/// master located (no pythonnet, no generated bindings, no JIT). Every function here exists from Python 3.9 to 3.13;
/// most are in the stable ABI. <c>nint</c> stands for <c>PyObject*</c>; which references are new and which borrowed
/// follows the C API documentation and is noted where it matters.
/// </summary>
internal static unsafe class CPython
{
    private const int RTLD_NOW = 2, RTLD_GLOBAL = 0x100;

    [DllImport("libc", EntryPoint = "dlopen")]
    private static extern nint DlOpen(byte* path, int flags);

    [DllImport("libc", EntryPoint = "dlerror")]
    private static extern byte* DlError();

    /// <summary>Py_file_input: compile a module's source.</summary>
    public const int FileInput = 257;

    /// <summary>tp_flags bits (Include/object.h), stable since Python 3.0.</summary>
    public const ulong LongSubclass = 1UL << 24, ListSubclass = 1UL << 25, TupleSubclass = 1UL << 26,
        BytesSubclass = 1UL << 27, UnicodeSubclass = 1UL << 28, DictSubclass = 1UL << 29;

    /// <summary>PyMethodDef.ml_flags.</summary>
    public const int MethVarargs = 0x1, MethNoArgs = 0x4, MethO = 0x8;

    // The interpreter and threads.
    public static delegate* unmanaged<int, void> Py_InitializeEx;
    public static delegate* unmanaged<byte*, nint, nint> Py_DecodeLocale;
    public static delegate* unmanaged<nint, void> Py_SetProgramName;
    public static delegate* unmanaged<nint> PyEval_SaveThread;
    public static delegate* unmanaged<nint, void> PyEval_RestoreThread;
    public static delegate* unmanaged<int> PyGILState_Ensure;
    public static delegate* unmanaged<int, void> PyGILState_Release;

    // References.
    public static delegate* unmanaged<nint, void> Py_IncRef;
    public static delegate* unmanaged<nint, void> Py_DecRef;

    // str, bytes, int.
    public static delegate* unmanaged<byte*, nint, nint> PyUnicode_FromStringAndSize;
    public static delegate* unmanaged<byte*, nint, byte*, nint> PyUnicode_DecodeLatin1;
    public static delegate* unmanaged<nint, nint*, byte*> PyUnicode_AsUTF8AndSize;
    public static delegate* unmanaged<nint, nint> PyUnicode_AsLatin1String;
    public static delegate* unmanaged<byte*, nint> PyUnicode_InternFromString;
    public static delegate* unmanaged<nint, nint, nint> PyUnicode_Concat;
    public static delegate* unmanaged<byte*, nint, nint> PyBytes_FromStringAndSize;
    public static delegate* unmanaged<nint, byte**, nint*, int> PyBytes_AsStringAndSize;
    public static delegate* unmanaged<long, nint> PyLong_FromLongLong;
    public static delegate* unmanaged<nint, long> PyLong_AsLongLong;

    // Containers.
    public static delegate* unmanaged<nint, nint> PyTuple_New;
    public static delegate* unmanaged<nint, nint, nint, int> PyTuple_SetItem;
    public static delegate* unmanaged<nint, nint, nint> PyTuple_GetItem;
    public static delegate* unmanaged<nint, nint> PyTuple_Size;
    public static delegate* unmanaged<nint, nint, nint> PyList_GetItem;
    public static delegate* unmanaged<nint, nint> PyList_Size;
    public static delegate* unmanaged<nint, nint> PyList_New;
    public static delegate* unmanaged<nint, nint, int> PyList_Append;
    public static delegate* unmanaged<byte*, nint, byte*, nint> PyUnicode_DecodeUTF8;
    public static delegate* unmanaged<nint> PyDict_New;
    public static delegate* unmanaged<nint, nint, nint, int> PyDict_SetItem;
    public static delegate* unmanaged<nint, nint, nint> PyDict_GetItem;
    public static delegate* unmanaged<nint, byte*, nint, int> PyDict_SetItemString;

    // Objects, calls, modules.
    public static delegate* unmanaged<nint, byte*, nint> PyObject_GetAttrString;
    public static delegate* unmanaged<nint, byte*, nint, int> PyObject_SetAttrString;
    public static delegate* unmanaged<nint, nint, nint, nint> PyObject_Call;
    public static delegate* unmanaged<nint, nint> PyObject_GetIter;
    public static delegate* unmanaged<nint, nint> PyIter_Next;
    public static delegate* unmanaged<nint, int> PyObject_IsTrue;
    public static delegate* unmanaged<nint, nint> PyObject_Str;
    public static delegate* unmanaged<nint, nint, int> PyObject_IsInstance;
    public static delegate* unmanaged<nint, ulong> PyType_GetFlags;
    public static delegate* unmanaged<byte*, nint> PyImport_ImportModule;
    public static delegate* unmanaged<byte*, byte*, int, nint> Py_CompileString;
    public static delegate* unmanaged<byte*, nint, nint> PyImport_ExecCodeModule;
    public static delegate* unmanaged<nint, nint, nint, nint> PyCFunction_NewEx;

    // Errors.
    public static delegate* unmanaged<nint> PyErr_Occurred;
    public static delegate* unmanaged<nint*, nint*, nint*, void> PyErr_Fetch;
    public static delegate* unmanaged<nint*, nint*, nint*, void> PyErr_NormalizeException;
    public static delegate* unmanaged<nint, nint, nint, void> PyErr_Restore;
    public static delegate* unmanaged<void> PyErr_Clear;
    public static delegate* unmanaged<nint, byte*, void> PyErr_SetString;
    public static delegate* unmanaged<nint, int> PyErr_ExceptionMatches;

    /// <summary>Py_None, Py_True, Py_False (addresses of static objects).</summary>
    public static nint None, True, False;

    /// <summary>The list and tuple type objects (their addresses), for exact type checks.</summary>
    public static nint ListType, TupleType;

    /// <summary>Exception types (values of the PyExc_* variables).</summary>
    public static nint RuntimeError, TypeError, ValueError, OSError, AssertionError, StopIteration;

    public static bool IsLoaded { get; private set; }

    /// <summary>Loads libpython with RTLD_GLOBAL (extension modules resolve their symbols from it) and resolves the API.</summary>
    /// <exception cref="DllNotFoundException">The library cannot be loaded, or lacks a function.</exception>
    public static void Load(string libraryPath)
    {
        var path = System.Text.Encoding.UTF8.GetBytes(libraryPath + "\0");
        nint library;
        fixed (byte* p = path)
        {
            // NativeLibrary.Load uses RTLD_LOCAL: extension modules, which are not linked to libpython, would then
            // fail to import with "undefined symbol".
            library = DlOpen(p, RTLD_NOW | RTLD_GLOBAL);
        }
        if (library == 0)
        {
            throw new DllNotFoundException($"cannot load {libraryPath}: {Marshal.PtrToStringUTF8((nint)DlError())}");
        }
        nint Symbol(string name) => NativeLibrary.TryGetExport(library, name, out var address)
            ? address
            : throw new DllNotFoundException($"{libraryPath} has no function {name}: not a CPython 3.9-3.13 library?");

        Py_InitializeEx = (delegate* unmanaged<int, void>)Symbol("Py_InitializeEx");
        Py_DecodeLocale = (delegate* unmanaged<byte*, nint, nint>)Symbol("Py_DecodeLocale");
        Py_SetProgramName = (delegate* unmanaged<nint, void>)Symbol("Py_SetProgramName");
        PyEval_SaveThread = (delegate* unmanaged<nint>)Symbol("PyEval_SaveThread");
        PyEval_RestoreThread = (delegate* unmanaged<nint, void>)Symbol("PyEval_RestoreThread");
        PyGILState_Ensure = (delegate* unmanaged<int>)Symbol("PyGILState_Ensure");
        PyGILState_Release = (delegate* unmanaged<int, void>)Symbol("PyGILState_Release");
        Py_IncRef = (delegate* unmanaged<nint, void>)Symbol("Py_IncRef");
        Py_DecRef = (delegate* unmanaged<nint, void>)Symbol("Py_DecRef");
        PyUnicode_FromStringAndSize = (delegate* unmanaged<byte*, nint, nint>)Symbol("PyUnicode_FromStringAndSize");
        PyUnicode_DecodeLatin1 = (delegate* unmanaged<byte*, nint, byte*, nint>)Symbol("PyUnicode_DecodeLatin1");
        PyUnicode_AsUTF8AndSize = (delegate* unmanaged<nint, nint*, byte*>)Symbol("PyUnicode_AsUTF8AndSize");
        PyUnicode_AsLatin1String = (delegate* unmanaged<nint, nint>)Symbol("PyUnicode_AsLatin1String");
        PyUnicode_InternFromString = (delegate* unmanaged<byte*, nint>)Symbol("PyUnicode_InternFromString");
        PyUnicode_Concat = (delegate* unmanaged<nint, nint, nint>)Symbol("PyUnicode_Concat");
        PyBytes_FromStringAndSize = (delegate* unmanaged<byte*, nint, nint>)Symbol("PyBytes_FromStringAndSize");
        PyBytes_AsStringAndSize = (delegate* unmanaged<nint, byte**, nint*, int>)Symbol("PyBytes_AsStringAndSize");
        PyLong_FromLongLong = (delegate* unmanaged<long, nint>)Symbol("PyLong_FromLongLong");
        PyLong_AsLongLong = (delegate* unmanaged<nint, long>)Symbol("PyLong_AsLongLong");
        PyTuple_New = (delegate* unmanaged<nint, nint>)Symbol("PyTuple_New");
        PyTuple_SetItem = (delegate* unmanaged<nint, nint, nint, int>)Symbol("PyTuple_SetItem");
        PyTuple_GetItem = (delegate* unmanaged<nint, nint, nint>)Symbol("PyTuple_GetItem");
        PyTuple_Size = (delegate* unmanaged<nint, nint>)Symbol("PyTuple_Size");
        PyList_GetItem = (delegate* unmanaged<nint, nint, nint>)Symbol("PyList_GetItem");
        PyList_Size = (delegate* unmanaged<nint, nint>)Symbol("PyList_Size");
        PyList_New = (delegate* unmanaged<nint, nint>)Symbol("PyList_New");
        PyList_Append = (delegate* unmanaged<nint, nint, int>)Symbol("PyList_Append");
        PyUnicode_DecodeUTF8 = (delegate* unmanaged<byte*, nint, byte*, nint>)Symbol("PyUnicode_DecodeUTF8");
        PyDict_New = (delegate* unmanaged<nint>)Symbol("PyDict_New");
        PyDict_SetItem = (delegate* unmanaged<nint, nint, nint, int>)Symbol("PyDict_SetItem");
        PyDict_GetItem = (delegate* unmanaged<nint, nint, nint>)Symbol("PyDict_GetItem");
        PyDict_SetItemString = (delegate* unmanaged<nint, byte*, nint, int>)Symbol("PyDict_SetItemString");
        PyObject_GetAttrString = (delegate* unmanaged<nint, byte*, nint>)Symbol("PyObject_GetAttrString");
        PyObject_SetAttrString = (delegate* unmanaged<nint, byte*, nint, int>)Symbol("PyObject_SetAttrString");
        PyObject_Call = (delegate* unmanaged<nint, nint, nint, nint>)Symbol("PyObject_Call");
        PyObject_GetIter = (delegate* unmanaged<nint, nint>)Symbol("PyObject_GetIter");
        PyIter_Next = (delegate* unmanaged<nint, nint>)Symbol("PyIter_Next");
        PyObject_IsTrue = (delegate* unmanaged<nint, int>)Symbol("PyObject_IsTrue");
        PyObject_Str = (delegate* unmanaged<nint, nint>)Symbol("PyObject_Str");
        PyObject_IsInstance = (delegate* unmanaged<nint, nint, int>)Symbol("PyObject_IsInstance");
        PyType_GetFlags = (delegate* unmanaged<nint, ulong>)Symbol("PyType_GetFlags");
        PyImport_ImportModule = (delegate* unmanaged<byte*, nint>)Symbol("PyImport_ImportModule");
        Py_CompileString = (delegate* unmanaged<byte*, byte*, int, nint>)Symbol("Py_CompileString");
        PyImport_ExecCodeModule = (delegate* unmanaged<byte*, nint, nint>)Symbol("PyImport_ExecCodeModule");
        PyCFunction_NewEx = (delegate* unmanaged<nint, nint, nint, nint>)Symbol("PyCFunction_NewEx");
        PyErr_Occurred = (delegate* unmanaged<nint>)Symbol("PyErr_Occurred");
        PyErr_Fetch = (delegate* unmanaged<nint*, nint*, nint*, void>)Symbol("PyErr_Fetch");
        PyErr_NormalizeException = (delegate* unmanaged<nint*, nint*, nint*, void>)Symbol("PyErr_NormalizeException");
        PyErr_Restore = (delegate* unmanaged<nint, nint, nint, void>)Symbol("PyErr_Restore");
        PyErr_Clear = (delegate* unmanaged<void>)Symbol("PyErr_Clear");
        PyErr_SetString = (delegate* unmanaged<nint, byte*, void>)Symbol("PyErr_SetString");
        PyErr_ExceptionMatches = (delegate* unmanaged<nint, int>)Symbol("PyErr_ExceptionMatches");

        None = Symbol("_Py_NoneStruct");
        True = Symbol("_Py_TrueStruct");
        False = Symbol("_Py_FalseStruct");
        ListType = Symbol("PyList_Type");
        TupleType = Symbol("PyTuple_Type");
        // PyExc_X are variables holding the type object's address.
        RuntimeError = *(nint*)Symbol("PyExc_RuntimeError");
        TypeError = *(nint*)Symbol("PyExc_TypeError");
        ValueError = *(nint*)Symbol("PyExc_ValueError");
        OSError = *(nint*)Symbol("PyExc_OSError");
        AssertionError = *(nint*)Symbol("PyExc_AssertionError");
        StopIteration = *(nint*)Symbol("PyExc_StopIteration");
        IsLoaded = true;
    }

    /// <summary>Py_TYPE(o)->tp_flags: ob_type follows ob_refcnt in every PyObject of a 3.9-3.13 (non-debug) build.</summary>
    public static ulong TypeFlags(nint o) => PyType_GetFlags(*(nint*)(o + sizeof(nint)));

    public static bool IsBytes(nint o) => (TypeFlags(o) & BytesSubclass) != 0;
    public static bool IsStr(nint o) => (TypeFlags(o) & UnicodeSubclass) != 0;
    public static bool IsList(nint o) => (TypeFlags(o) & ListSubclass) != 0;
    public static bool IsTuple(nint o) => (TypeFlags(o) & TupleSubclass) != 0;

    /// <summary>A list or tuple itself, not a subclass (which may add methods such as close()).</summary>
    public static bool IsExactListOrTuple(nint o) => *(nint*)(o + sizeof(nint)) is var type && (type == ListType || type == TupleType);
}
