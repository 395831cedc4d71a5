using System.Buffers.Text;
using System.Text;
using Gunicorn.Shared.Contract;
using Gunicorn.Worker.Http;
using Gunicorn.Worker.Python;

namespace Gunicorn.Worker.Asgi;

/// <summary>
/// Builds an ASGI connection scope (<c>http</c> or <c>websocket</c>, ASGI 3.0, spec 2.3) straight from the request
/// head's bytes: header names lower-cased once per distinct name and shared, every repeated header kept as its own
/// pair (ASGI wants them as sent, where WSGI joins them), the client from the front's peer header.
/// </summary>
internal sealed unsafe class AsgiScope
{
    private readonly nint _type = PythonRuntime.Interned("type");
    private readonly nint _asgi = PythonRuntime.Interned("asgi");
    private readonly nint _version = PythonRuntime.Interned("version");
    private readonly nint _specVersion = PythonRuntime.Interned("spec_version");
    private readonly nint _httpVersion = PythonRuntime.Interned("http_version");
    private readonly nint _method = PythonRuntime.Interned("method");
    private readonly nint _scheme = PythonRuntime.Interned("scheme");
    private readonly nint _path = PythonRuntime.Interned("path");
    private readonly nint _rawPath = PythonRuntime.Interned("raw_path");
    private readonly nint _queryString = PythonRuntime.Interned("query_string");
    private readonly nint _rootPath = PythonRuntime.Interned("root_path");
    private readonly nint _headers = PythonRuntime.Interned("headers");
    private readonly nint _server = PythonRuntime.Interned("server");
    private readonly nint _client = PythonRuntime.Interned("client");
    private readonly nint _subprotocols = PythonRuntime.Interned("subprotocols");
    private readonly nint _extensions = PythonRuntime.Interned("extensions");
    private readonly nint _pathsend = PythonRuntime.Interned("http.response.pathsend");
    private readonly nint _denialResponse = PythonRuntime.Interned("websocket.http.response");

    private readonly nint _http = PythonRuntime.Interned("http");
    private readonly nint _https = PythonRuntime.Interned("https");
    private readonly nint _ws = PythonRuntime.Interned("ws");
    private readonly nint _wss = PythonRuntime.Interned("wss");
    private readonly nint _websocket = PythonRuntime.Interned("websocket");
    private readonly nint _three = PythonRuntime.Interned("3.0");
    private readonly nint _specVersionValue = PythonRuntime.Interned("2.3");
    private readonly nint _http11 = PythonRuntime.Interned("1.1");
    private readonly nint _http10 = PythonRuntime.Interned("1.0");
    private readonly nint _rootPathValue;
    private readonly string _rootPathText;
    private readonly KnownMethods _methods = new();

    /// <summary>Lower-cased header names as bytes objects, made once per distinct name (up to 512 names).</summary>
    private readonly Dictionary<string, nint> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, nint>.AlternateLookup<ReadOnlySpan<char>> _nameLookup;

    private readonly bool _scriptNameForwarded, _pathInfoForwarded;

    private static readonly byte[] PeerHeader = Encoding.ASCII.GetBytes(WorkerContract.PeerHeader);

    /// <param name="rootPath">root_path: the prefix the app is mounted under, before a forwarded SCRIPT_NAME.</param>
    /// <param name="forwarderHeaders">forwarder_headers: SCRIPT_NAME and PATH_INFO headers (passed by the front from
    /// trusted peers only) set the scope's root_path and path instead of appearing as headers.</param>
    public AsgiScope(string rootPath, IReadOnlyList<string> forwarderHeaders)
    {
        _rootPathText = rootPath;
        _rootPathValue = PythonRuntime.Interned(rootPath);
        _scriptNameForwarded = forwarderHeaders.Contains("SCRIPT_NAME", StringComparer.OrdinalIgnoreCase);
        _pathInfoForwarded = forwarderHeaders.Contains("PATH_INFO", StringComparer.OrdinalIgnoreCase);
        _nameLookup = _names.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>A WebSocket handshake (RFC 6455 4.1: Upgrade: websocket on a GET).</summary>
    public static bool IsWebSocket(Http1Request request) =>
        Ascii.EqualsIgnoreCase(request.Header("Upgrade"u8), "websocket"u8) && request[request.Method].SequenceEqual("GET"u8);

    /// <summary>The scope of <paramref name="request"/> (a new dict); <paramref name="websocket"/> for a handshake.</summary>
    public PyRef Build(Http1Request request, bool websocket)
    {
        var scope = PythonRuntime.Check(CPython.PyDict_New());
        var d = scope.Handle;
        PyDicts.SetBorrowed(d, _type, websocket ? _websocket : _http);
        var asgi = PythonRuntime.Check(CPython.PyDict_New());
        PyDicts.SetBorrowed(asgi.Handle, _version, _three);
        PyDicts.SetBorrowed(asgi.Handle, _specVersion, _specVersionValue);
        PyDicts.Set(d, _asgi, asgi.Steal());
        PyDicts.SetBorrowed(d, _httpVersion, request.Http10 ? _http10 : _http11);
        if (!websocket)
        {
            PyDicts.Set(d, _method, _methods.Str(request[request.Method]));
        }
        var https = Ascii.EqualsIgnoreCase(request.Header("X-Forwarded-Proto"u8), "https"u8);
        PyDicts.SetBorrowed(d, _scheme, websocket ? https ? _wss : _ws : https ? _https : _http);

        RequestTarget.Split(request[request.Target], out var rawPath, out var query);
        var path = rawPath;
        ReadOnlySpan<byte> scriptName = [];
        var headers = PythonRuntime.Check(CPython.PyList_New(0));
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
                path = value;
            }
            else if (!Ascii.EqualsIgnoreCase(name, PeerHeader))
            {
                using var pair = PythonRuntime.Check(CPython.PyTuple_New(2));
                CPython.PyTuple_SetItem(pair.Handle, 0, LowerName(name));
                CPython.PyTuple_SetItem(pair.Handle, 1, PythonRuntime.Bytes(value));
                if (CPython.PyList_Append(headers.Handle, pair.Handle) != 0)
                {
                    throw PythonRuntime.FetchError();
                }
            }
        }
        PyDicts.Set(d, _headers, headers.Steal());

        // As gunicorn's SCRIPT_NAME: a forwarded mount point is the root path, the path below it is the app's.
        if (scriptName.IsEmpty)
        {
            PyDicts.SetBorrowed(d, _rootPath, _rootPathValue);
        }
        else
        {
            if (path.StartsWith(scriptName))
            {
                path = path[scriptName.Length..];
            }
            PyDicts.Set(d, _rootPath, PythonRuntime.Str(_rootPathText + Encoding.Latin1.GetString(scriptName)).Steal());
        }
        PyDicts.Set(d, _path, Utf8(path));
        PyDicts.Set(d, _rawPath, PythonRuntime.Bytes(rawPath));
        PyDicts.Set(d, _queryString, PythonRuntime.Bytes(query));

        RequestTarget.SplitHost(request.Header("Host"u8), https, out var serverName, out var serverPort);
        PyDicts.Set(d, _server, Address(serverName, serverPort));
        var peer = request.Header(PeerHeader);
        var space = peer.IndexOf((byte)' ');
        if (space > 0)
        {
            PyDicts.Set(d, _client, Address(peer[..space], peer[(space + 1)..]));
        }
        if (websocket)
        {
            PyDicts.Set(d, _subprotocols, Subprotocols(request.Header("Sec-WebSocket-Protocol"u8)));
        }
        // The extensions this server implements: a file sent by path (zero copy), a WebSocket denied with a response.
        var extensions = PythonRuntime.Check(CPython.PyDict_New());
        using (var empty = PythonRuntime.Check(CPython.PyDict_New()))
        {
            PyDicts.SetBorrowed(extensions.Handle, websocket ? _denialResponse : _pathsend, empty.Handle);
        }
        PyDicts.Set(d, _extensions, extensions.Steal());
        return scope;
    }

    /// <summary>The percent-decoded path as text (UTF-8, undecodable bytes replaced), as ASGI servers give it.</summary>
    private static nint Utf8(ReadOnlySpan<byte> path)
    {
        Span<byte> decoded = path.Length <= 1024 ? stackalloc byte[path.Length] : new byte[path.Length];
        var length = RequestTarget.PercentDecode(path, decoded);
        fixed (byte* p = decoded, replace = "replace\0"u8)
        {
            return CPython.PyUnicode_DecodeUTF8(p, length, replace);
        }
    }

    /// <summary>(host, port) as ASGI's server and client: a str and an int (0 when the port is not a number).</summary>
    private static nint Address(ReadOnlySpan<byte> host, ReadOnlySpan<byte> port)
    {
        var tuple = PythonRuntime.Check(CPython.PyTuple_New(2));
        CPython.PyTuple_SetItem(tuple.Handle, 0, PythonRuntime.Latin1(host));
        var number = Utf8Parser.TryParse(port, out int value, out var consumed) && consumed == port.Length ? value : 0;
        CPython.PyTuple_SetItem(tuple.Handle, 1, CPython.PyLong_FromLongLong(number));
        return tuple.Steal();
    }

    private static nint Subprotocols(ReadOnlySpan<byte> header)
    {
        var list = PythonRuntime.Check(CPython.PyList_New(0));
        foreach (var part in header.Split((byte)','))
        {
            var name = header[part].Trim(" \t"u8);
            if (!name.IsEmpty)
            {
                using var item = PythonRuntime.Check(PythonRuntime.Latin1(name));
                CPython.PyList_Append(list.Handle, item.Handle);
            }
        }
        return list.Steal();
    }

    /// <summary>A new reference to the lower-cased name as bytes.</summary>
    private nint LowerName(ReadOnlySpan<byte> name)
    {
        Span<char> chars = name.Length <= 256 ? stackalloc char[name.Length] : new char[name.Length];
        for (var i = 0; i < name.Length; i++)
        {
            chars[i] = (char)(name[i] is >= (byte)'A' and <= (byte)'Z' ? name[i] | 0x20 : name[i]);
        }
        if (_nameLookup.TryGetValue(chars, out var cached))
        {
            CPython.Py_IncRef(cached);
            return cached;
        }
        Span<byte> lower = name.Length <= 256 ? stackalloc byte[name.Length] : new byte[name.Length];
        Encoding.Latin1.GetBytes(chars, lower);
        var bytes = PythonRuntime.Bytes(lower);
        if (bytes != 0 && _names.Count < 512)
        {
            CPython.Py_IncRef(bytes); // the cache's own reference; a flood of distinct names does not grow it further
            _names[new string(chars)] = bytes;
        }
        return bytes;
    }
}
