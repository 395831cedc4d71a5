using System.Text;
using Gunicorn.Shared.Contract;
using Gunicorn.Worker.Http;
using Gunicorn.Worker.Python;

namespace Gunicorn.Worker.Wsgi;

/// <summary>
/// Builds the WSGI environ (PEP 3333) straight from the request head's bytes into a Python dict: values are latin-1
/// decodings made by CPython from the bytes on the wire, keys are interned strs made once. Repeated header fields are
/// joined with commas (RFC 9110), as gunicorn does.
/// </summary>
internal sealed unsafe class WsgiEnviron
{
    private readonly nint _requestMethod = PythonRuntime.Interned("REQUEST_METHOD");
    private readonly nint _scriptName = PythonRuntime.Interned("SCRIPT_NAME");
    private readonly nint _pathInfo = PythonRuntime.Interned("PATH_INFO");
    private readonly nint _queryString = PythonRuntime.Interned("QUERY_STRING");
    private readonly nint _rawUri = PythonRuntime.Interned("RAW_URI");
    private readonly nint _serverName = PythonRuntime.Interned("SERVER_NAME");
    private readonly nint _serverPort = PythonRuntime.Interned("SERVER_PORT");
    private readonly nint _serverProtocol = PythonRuntime.Interned("SERVER_PROTOCOL");
    private readonly nint _remoteAddr = PythonRuntime.Interned("REMOTE_ADDR");
    private readonly nint _remotePort = PythonRuntime.Interned("REMOTE_PORT");
    private readonly nint _contentType = PythonRuntime.Interned("CONTENT_TYPE");
    private readonly nint _contentLength = PythonRuntime.Interned("CONTENT_LENGTH");
    private readonly nint _urlScheme = PythonRuntime.Interned("wsgi.url_scheme");
    private readonly nint _input = PythonRuntime.Interned("wsgi.input");
    private readonly nint _inputTerminated = PythonRuntime.Interned("wsgi.input_terminated");
    private readonly nint _version = PythonRuntime.Interned("wsgi.version");
    private readonly nint _errors = PythonRuntime.Interned("wsgi.errors");
    private readonly nint _multithread = PythonRuntime.Interned("wsgi.multithread");
    private readonly nint _multiprocess = PythonRuntime.Interned("wsgi.multiprocess");
    private readonly nint _runOnce = PythonRuntime.Interned("wsgi.run_once");
    private readonly nint _fileWrapper = PythonRuntime.Interned("wsgi.file_wrapper");

    private readonly nint _empty = PythonRuntime.Interned("");
    private readonly nint _http = PythonRuntime.Interned("http");
    private readonly nint _https = PythonRuntime.Interned("https");
    private readonly nint _http11 = PythonRuntime.Interned("HTTP/1.1");
    private readonly nint _http10 = PythonRuntime.Interned("HTTP/1.0");
    private readonly nint _comma = PythonRuntime.Interned(",");
    private readonly KnownMethods _methods = new();

    /// <summary>CGI keys of header names (HTTP_USER_AGENT...), made once per name, bounded.</summary>
    private readonly Dictionary<string, nint> _headerKeys = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, nint>.AlternateLookup<ReadOnlySpan<char>> _headerKeyLookup;

    private readonly nint _versionTuple, _stderr, _multithreadValue, _fileWrapperType, _bytesIo, _inputType;

    /// <summary>forwarder_headers that name environ variables this builds itself: SCRIPT_NAME and PATH_INFO.</summary>
    private readonly bool _scriptNameForwarded, _pathInfoForwarded;

    /// <param name="runner">The runner module (FileWrapper, Input).</param>
    /// <param name="forwarderHeaders">forwarder_headers: headers of these names (the front passes them from trusted
    /// peers only) set the environ variable of the same name instead of HTTP_*.</param>
    public WsgiEnviron(nint runner, bool multithread, IReadOnlyList<string> forwarderHeaders)
    {
        _scriptNameForwarded = forwarderHeaders.Contains("SCRIPT_NAME", StringComparer.OrdinalIgnoreCase);
        _pathInfoForwarded = forwarderHeaders.Contains("PATH_INFO", StringComparer.OrdinalIgnoreCase);
        _headerKeyLookup = _headerKeys.GetAlternateLookup<ReadOnlySpan<char>>();
        _versionTuple = PythonRuntime.Tuple(new PyRef(CPython.PyLong_FromLongLong(1)), new PyRef(CPython.PyLong_FromLongLong(0))).Steal();
        using (var sys = PythonRuntime.Import("sys"))
        {
            _stderr = PythonRuntime.GetAttr(sys.Handle, "stderr").Steal();
        }
        using (var io = PythonRuntime.Import("io"))
        {
            _bytesIo = PythonRuntime.GetAttr(io.Handle, "BytesIO").Steal();
        }
        _multithreadValue = multithread ? CPython.True : CPython.False;
        _fileWrapperType = PythonRuntime.GetAttr(runner, "FileWrapper").Steal();
        _inputType = PythonRuntime.GetAttr(runner, "Input").Steal();
    }

    /// <summary>The FileWrapper class (wsgi.file_wrapper), for recognising a result the worker may sendfile.</summary>
    public nint FileWrapperType => _fileWrapperType;

    /// <summary>A body the worker already holds whole and is at most this size goes in as a BytesIO.</summary>
    private const int InMemoryBody = 64 * 1024;

    /// <summary>The environ for the request <paramref name="slot"/> serves (a new dict).</summary>
    public PyRef Build(Http1Connection connection, RequestSlot slot)
    {
        var request = connection.Request;
        var environ = PythonRuntime.Check(CPython.PyDict_New());
        var d = environ.Handle;
        var method = request[request.Method];
        PyDicts.Set(d, _requestMethod, _methods.Str(method));
        PyDicts.SetBorrowed(d, _scriptName, _empty);

        var target = request[request.Target];
        RequestTarget.Split(target, out var path, out var query);
        var pathInfo = path;
        PyDicts.Set(d, _queryString, PythonRuntime.Latin1(query));
        PyDicts.Set(d, _rawUri, PythonRuntime.Latin1(target));
        PyDicts.SetBorrowed(d, _serverProtocol, request.Http10 ? _http10 : _http11);

        var https = Ascii.EqualsIgnoreCase(request.Header("X-Forwarded-Proto"u8), "https"u8);
        PyDicts.SetBorrowed(d, _urlScheme, https ? _https : _http);
        RequestTarget.SplitHost(request.Header("Host"u8), https, out var serverName, out var serverPort);
        PyDicts.Set(d, _serverName, PythonRuntime.Latin1(serverName));
        PyDicts.Set(d, _serverPort, PythonRuntime.Latin1(serverPort));

        // The front names the real client in its peer header (ADDR PORT); a direct connection has none.
        var peer = request.Header(PeerHeaderBytes);
        var space = peer.IndexOf((byte)' ');
        PyDicts.Set(d, _remoteAddr, PythonRuntime.Latin1(space < 0 ? [] : peer[..space]));
        PyDicts.Set(d, _remotePort, PythonRuntime.Latin1(space < 0 ? [] : peer[(space + 1)..]));

        ReadOnlySpan<byte> scriptName = [];
        foreach (var (nameRange, valueRange) in request.Headers)
        {
            var name = request[nameRange];
            var value = request[valueRange];
            if (_scriptNameForwarded && Ascii.EqualsIgnoreCase(name, "SCRIPT_NAME"u8))
            {
                scriptName = value;
            }
            else if (_pathInfoForwarded && Ascii.EqualsIgnoreCase(name, "PATH_INFO"u8))
            {
                pathInfo = value;
            }
            else if (Ascii.EqualsIgnoreCase(name, "Content-Type"u8))
            {
                PyDicts.Set(d, _contentType, PythonRuntime.Latin1(value));
            }
            else if (Ascii.EqualsIgnoreCase(name, "Content-Length"u8))
            {
                PyDicts.Set(d, _contentLength, PythonRuntime.Latin1(value));
            }
            else if (!Ascii.EqualsIgnoreCase(name, PeerHeaderBytes))
            {
                using var key = HeaderKey(name);
                AddHeader(d, key.Handle, value);
            }
        }

        // gunicorn: a forwarded SCRIPT_NAME is the mount point; PATH_INFO is the rest of the path below it.
        if (!scriptName.IsEmpty)
        {
            PyDicts.Set(d, _scriptName, PythonRuntime.Latin1(scriptName));
            if (pathInfo.StartsWith(scriptName))
            {
                pathInfo = pathInfo[scriptName.Length..];
            }
        }
        PyDicts.Set(d, _pathInfo, PercentDecoded(pathInfo));

        PyDicts.SetBorrowed(d, _version, _versionTuple);
        PyDicts.SetBorrowed(d, _errors, _stderr);
        PyDicts.SetBorrowed(d, _multithread, _multithreadValue);
        PyDicts.SetBorrowed(d, _multiprocess, CPython.True);
        PyDicts.SetBorrowed(d, _runOnce, CPython.False);
        PyDicts.SetBorrowed(d, _fileWrapper, _fileWrapperType);
        PyDicts.SetBorrowed(d, _inputTerminated, CPython.True);
        PyDicts.Set(d, _input, Input(connection, slot));
        return environ;
    }

    private static readonly byte[] PeerHeaderBytes = Encoding.ASCII.GetBytes(WorkerContract.PeerHeader);

    /// <summary>
    /// wsgi.input: a BytesIO when the whole (small) body has already arrived with the head, the usual case behind the
    /// front's request buffering; otherwise a stream that reads the connection as the app asks.
    /// </summary>
    private nint Input(Http1Connection connection, RequestSlot slot)
    {
        var body = connection.Body;
        var remaining = body.Remaining;
        if (remaining >= 0 && remaining <= InMemoryBody && connection.Buffered.Length >= remaining)
        {
            using var bytes = PythonRuntime.Check(CPython.PyBytes_FromStringAndSize(null, (nint)remaining));
            byte* target;
            nint length;
            CPython.PyBytes_AsStringAndSize(bytes.Handle, &target, &length);
            body.Read(new Span<byte>(target, (int)length)); // all of it is buffered: one copy
            using var args = PythonRuntime.Tuple(PyRef.Borrowed(bytes.Handle));
            return PythonRuntime.Check(CPython.PyObject_Call(_bytesIo, args.Handle, 0)).Steal();
        }
        using var handleArgs = PythonRuntime.Tuple(new PyRef(CPython.PyLong_FromLongLong(slot.InputHandle)));
        return PythonRuntime.Check(CPython.PyObject_Call(_inputType, handleArgs.Handle, 0)).Steal();
    }

    private void AddHeader(nint environ, nint key, ReadOnlySpan<byte> value)
    {
        var existing = CPython.PyDict_GetItem(environ, key);
        if (existing == 0)
        {
            PyDicts.Set(environ, key, PythonRuntime.Latin1(value));
            return;
        }
        using var withComma = PythonRuntime.Check(CPython.PyUnicode_Concat(existing, _comma));
        using var added = PythonRuntime.Check(PythonRuntime.Latin1(value));
        PyDicts.Set(environ, key, CPython.PyUnicode_Concat(withComma.Handle, added.Handle));
    }

    /// <summary>HTTP_ + the name upper-cased with dashes as underscores; made once per distinct name (up to 512 names).</summary>
    private PyRef HeaderKey(ReadOnlySpan<byte> name)
    {
        Span<char> chars = name.Length <= 256 ? stackalloc char[name.Length] : new char[name.Length];
        Encoding.Latin1.GetChars(name, chars);
        if (_headerKeyLookup.TryGetValue(chars, out var cached))
        {
            return PyRef.Borrowed(cached);
        }
        var key = new PyRef(PythonRuntime.Interned("HTTP_" + new string(chars).ToUpperInvariant().Replace('-', '_')));
        if (_headerKeys.Count < 512)
        {
            // The cache keeps a reference of its own; a flood of distinct names does not grow it further.
            _headerKeys[new string(chars)] = PyRef.Borrowed(key.Handle).Steal();
        }
        return key;
    }

    /// <summary>PEP 3333: PATH_INFO is the percent-decoded bytes, as a latin-1 str.</summary>
    private static nint PercentDecoded(ReadOnlySpan<byte> path)
    {
        if (path.IndexOf((byte)'%') < 0)
        {
            return PythonRuntime.Latin1(path);
        }
        Span<byte> decoded = path.Length <= 1024 ? stackalloc byte[path.Length] : new byte[path.Length];
        return PythonRuntime.Latin1(decoded[..RequestTarget.PercentDecode(path, decoded)]);
    }
}
