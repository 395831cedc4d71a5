using System.Runtime.InteropServices;
using System.Text;
using Gunicorn.Backend.Wsgi.Http;
using Python.Runtime;

namespace Gunicorn.Backend.Wsgi;

/// <summary>
/// A Python WSGI app (<c>module:callable</c>) served from a worker: <see cref="WsgiServer"/> reads the request and its
/// body, the app runs on the same Python thread (wsgi_runner.py does the PEP 3333 part) and the response goes back.
/// </summary>
public sealed class WsgiApplication : IDisposable
{
    private readonly PythonThreads _python;
    private readonly PyObject _app;
    private readonly PyObject _handle;
    private readonly PyObject _copyInto;
    private readonly PyObject _multithread;
    private readonly PyObject _callHook;

    private WsgiApplication(PythonThreads python, PyObject app, PyModule runner, bool multithread)
    {
        _python = python;
        _app = app;
        _handle = runner.GetAttr("handle");
        _copyInto = runner.GetAttr("copy_into");
        _callHook = runner.GetAttr("call_hook");
        _multithread = multithread.ToPython();
    }

    /// <summary>
    /// Runs a worker-side python: hook (post_worker_init, worker_int, worker_abort, worker_exit) on the calling thread:
    /// the Python threads may be busy serving, and gunicorn too runs these from signal handlers between bytecodes.
    /// </summary>
    public void RunHook(string name)
    {
        using (Py.GIL())
        {
            using var hookName = new PyString(name);
            _callHook.Invoke(hookName).Dispose();
        }
    }

    /// <summary>Imports the app; a failure is a <see cref="PythonException"/> carrying the traceback.</summary>
    /// <param name="hooks">python: hooks by name; imported before the app, and post_fork runs before the app loads, as in gunicorn.</param>
    public static async Task<WsgiApplication> LoadAsync(PythonThreads python, string target, IEnumerable<string> searchPath,
        bool multithread, IReadOnlyDictionary<string, string> hooks, (int Pid, int Age, int MasterPid) worker)
    {
        var runnerSource = ReadRunner();
        return await python.RunAsync(() =>
        {
            using var sys = Py.Import("sys");
            using var path = sys.GetAttr("path");
            foreach (var directory in searchPath.Reverse())
            {
                using var entry = new PyString(directory);
                path.InvokeMethod("insert", new PyInt(0), entry).Dispose();
            }
            var runner = PyModule.FromString("gunicorn_net_wsgi_runner", runnerSource);
            using (var configure = runner.GetAttr("configure_hooks"))
            {
                var packed = string.Join("\0", hooks.SelectMany(h => new[] { h.Key, h.Value }));
                configure.Invoke(new PyString(packed), new PyInt(worker.Pid), new PyInt(worker.Age), new PyInt(worker.MasterPid)).Dispose();
            }
            using (var callHook = runner.GetAttr("call_hook"))
            {
                callHook.Invoke(new PyString("post_fork")).Dispose();
            }
            using var load = runner.GetAttr("load");
            var app = load.Invoke(new PyString(target));
            return new WsgiApplication(python, app, runner, multithread);
        });
    }

    /// <summary>Runs the app for one request on the calling thread, which holds the GIL.</summary>
    /// <returns>The status and headers (NUL-separated) and the whole response body.</returns>
    public (string Head, byte[] Payload) Serve(Http1Request request) =>
        Call(WsgiEnviron.Pack(request, request.Body.Length), request.Body);

    /// <summary>On the Python thread, with the GIL.</summary>
    private (string Head, byte[] Payload) Call(string packed, byte[] body)
    {
        var pin = GCHandle.Alloc(body, GCHandleType.Pinned);
        try
        {
            using var environ = new PyString(packed);
            using var address = new PyInt(pin.AddrOfPinnedObject().ToInt64());
            using var length = new PyInt(body.Length);
            using var result = _handle.Invoke(_app, environ, address, length, _multithread);
            using var headObject = result[0];
            using var bytesObject = result[1];
            var payload = new byte[bytesObject.Length()];
            if (payload.Length > 0)
            {
                // One memcpy into a pinned .NET array: converting a large bytes object element by element is slow.
                var target = GCHandle.Alloc(payload, GCHandleType.Pinned);
                try
                {
                    using var targetAddress = new PyInt(target.AddrOfPinnedObject().ToInt64());
                    _copyInto.Invoke(targetAddress, bytesObject).Dispose();
                }
                finally
                {
                    target.Free();
                }
            }
            return (headObject.As<string>(), payload);
        }
        finally
        {
            pin.Free();
        }
    }

    private static string ReadRunner()
    {
        using var stream = typeof(WsgiApplication).Assembly.GetManifestResourceStream("wsgi_runner.py")!;
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    public void Dispose() => _python.Dispose();
}
