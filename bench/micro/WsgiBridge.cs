using BenchmarkDotNet.Attributes;
using Gunicorn.Backend.Wsgi;
using Gunicorn.Backend.Wsgi.Http;
using Python.Runtime;

namespace Gunicorn.Bench.Micro;

/// <summary>
/// Our side of the WSGI call, without sockets: parse the head the front sent, build the environ, call a WSGI hello app
/// through the PEP 3333 runner, take its response back and format the response head. The app-hosting issue's budget
/// for this is 20 us of CPU; <see cref="AppAlone"/> is the app's own share, measured inside Python.
/// </summary>
[MemoryDiagnoser]
public class WsgiBridge
{
    private const string HelloApp = """
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"Hello, World!\n"]

        def time_alone(count):
            import time
            environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/"}
            start_response = lambda status, headers, exc_info=None: None
            started = time.perf_counter()
            for _ in range(count):
                app(environ, start_response)
            return (time.perf_counter() - started) / count * 1e6
        """;

    private PythonThreads _python = null!;
    private WsgiApplication _app = null!;
    private Py.GILState _gil = null!;
    private PyObject _timeAlone = null!;

    [GlobalSetup]
    public void Setup()
    {
        var directory = Directory.CreateTempSubdirectory("gunicorn-net-bridge-").FullName;
        File.WriteAllText(Path.Combine(directory, "bridge_hello.py"), HelloApp);
        _python = new PythonThreads(PythonLocator.Locate("/usr/bin/python3"), 1);
        _app = WsgiApplication.LoadAsync(_python, "bridge_hello:app", [directory], multithread: false,
            new Dictionary<string, string>(), (Environment.ProcessId, 1, Environment.ProcessId)).GetAwaiter().GetResult();
        _gil = Py.GIL(); // the benchmark thread plays the worker's Python thread
        using var module = Py.Import("bridge_hello");
        _timeAlone = module.GetAttr("time_alone");
    }

    [GlobalCleanup]
    public void Cleanup() => _gil.Dispose();

    [Benchmark]
    public string ServeThroughBridge()
    {
        var request = Http1HeadParser.Parse(HotPaths.WorkerHead);
        var (head, payload) = _app.Serve(request);
        return Http1Connection.FormatHead(head, payload.Length, keepAlive: true, out _);
    }

    /// <summary>The app called from Python itself, no bridge: microseconds per call (reported as the return value's log).</summary>
    [Benchmark]
    public double AppAlone()
    {
        using var count = new PyInt(1000);
        using var result = _timeAlone.Invoke(count);
        return result.As<double>();
    }
}
