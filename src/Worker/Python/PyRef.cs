namespace Gunicorn.Worker.Python;

/// <summary>
/// An owned (new) reference to a Python object, released by <see cref="Dispose"/>: lifetimes are explicit, never left
/// to a finalizer. Use with <c>using</c> and only with the GIL held. <see cref="Steal"/> hands the reference on (to a
/// function that steals it, like PyTuple_SetItem).
/// </summary>
internal struct PyRef : IDisposable
{
    private nint _handle;

    public PyRef(nint handle) => _handle = handle;

    public readonly nint Handle => _handle;

    public readonly bool IsNull => _handle == 0;

    /// <summary>The reference, no longer owned by this struct.</summary>
    public nint Steal()
    {
        var handle = _handle;
        _handle = 0;
        return handle;
    }

    public void Dispose()
    {
        if (_handle != 0)
        {
            unsafe
            {
                CPython.Py_DecRef(_handle);
            }
            _handle = 0;
        }
    }

    /// <summary>A new reference to a borrowed object.</summary>
    public static unsafe PyRef Borrowed(nint handle)
    {
        CPython.Py_IncRef(handle);
        return new PyRef(handle);
    }
}
