using System.Diagnostics;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Backend;

/// <summary>
/// The native worker with CPython embedded through its C API: which interpreters it accepts (virtualenvs yes, a
/// Python without a shared library no, with the fix), what five Flask workers cost in memory, and how fast a reload
/// under load puts new code in front of clients.
/// </summary>
public class LightWorkerTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private const string DebianPython = "/usr/bin/python3";

    /// <summary>
    /// Measured on the 2-core test machine: about 23 MiB per Flask worker with five running (a forked gunicorn worker:
    /// about 19). The bound leaves room for a busy machine and other Python builds, not for a runtime's worth more.
    /// </summary>
    private const double WorkerPssBoundMiB = 40;

    /// <summary>Measured: about 25 MiB for the native master with five workers.</summary>
    private const double MasterPssBoundMiB = 64;

    /// <summary>
    /// The benchmark's target is 1.5 s (bench/run.sh reports it); measured here about 0.5 s for five plain WSGI workers.
    /// The bound allows for the test suite's own load on two cores.
    /// </summary>
    private static readonly TimeSpan ReloadToServingBound = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task PythonWithoutASharedLibrary_IsRefusedAtStart_NamingTheInterpreterAndTheFix_Exit4()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-static-python-").FullName;
        // A Python whose build configuration says what pyenv's default build says: no --enable-shared, a static
        // libpython.a. CPython reads its build configuration from the module this variable names.
        File.WriteAllText(Path.Combine(dir, "_sysconfigdata_static.py"), """
            import importlib, sys
            real = "_sysconfigdata_%s_%s_%s" % (sys.abiflags, sys.platform, getattr(sys.implementation, "_multiarch", ""))
            build_time_vars = dict(importlib.import_module(real).build_time_vars)
            build_time_vars.update(Py_ENABLE_SHARED=0, LDLIBRARY="libpython3.a", INSTSONAME="libpython3.a")
            """);
        var python = Path.Combine(dir, "python-static");
        File.WriteAllText(python, $"#!/bin/sh\nPYTHONPATH={dir} _PYTHON_SYSCONFIGDATA_NAME=_sysconfigdata_static exec {DebianPython} \"$@\"\n");
        File.SetUnixFileMode(python, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        await using var server = await GunicornServer.StartAsync(
            ["--python", python, "--chdir", RepoPaths.Combine("tests", "apps"), "wsgi_conformance:validated"], dir, waitForReady: false);

        Assert.Equal(4, await server.WaitForExitAsync(Deadline));
        var refusal = await server.WaitForLogAsync("App failed to load: .*", TimeSpan.FromSeconds(5));
        Assert.Contains(DebianPython, refusal.Value);
        Assert.Contains("built without a shared library", refusal.Value);
        Assert.Contains("--enable-shared", refusal.Value);
        Assert.DoesNotContain("Booting worker", server.Log);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task VirtualEnvironment_ByPythonOrVirtualEnvVariable_ImportsTheVenvsPackages(bool byVariable)
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-venv-").FullName;
        var venv = Path.Combine(dir, "venv");
        var created = await ExternalTool.RunAsync(DebianPython, ["-m", "venv", "--without-pip", venv], Deadline);
        Assert.True(created.ExitCode == 0, created.Output);
        // A package only the virtualenv has: the app imports it, so it loads only if the venv's site-packages is used.
        var sitePackages = Directory.GetDirectories(Path.Combine(venv, "lib")).Single();
        File.WriteAllText(Path.Combine(sitePackages, "site-packages", "only_in_venv.py"), "MARK = 'from the venv'\n");
        File.WriteAllText(Path.Combine(dir, "venvapp.py"), """
            import sys, only_in_venv
            def app(environ, start_response):
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [("%s|%s" % (only_in_venv.MARK, sys.prefix)).encode()]
            """);

        string[] args = byVariable ? ["--chdir", dir, "venvapp:app"] : ["--python", Path.Combine(venv, "bin", "python"), "--chdir", dir, "venvapp:app"];
        var environment = byVariable ? new Dictionary<string, string> { ["VIRTUAL_ENV"] = venv } : null;
        await using var server = await GunicornServer.StartAsync(args, dir, environment);

        Assert.Equal($"from the venv|{venv}", await server.Client.GetStringAsync("/"));
    }

    [SkippableFact]
    public async Task FiveFlaskWorkers_EachStayUnderThePssBound_AndSoDoesTheMaster()
    {
        Skip.IfNot(Directory.Exists("/usr/lib/python3/dist-packages/flask"), "Debian's python3-flask is not installed.");
        Skip.IfNot(Binary.IsNative, "The memory bounds are for the native executables (./test.sh publishes them).");
        await using var server = await GunicornServer.StartAsync(
            ["--python", DebianPython, "--chdir", RepoPaths.Combine("samples", "flask"), "-w", "5", "app:app"]);
        // Every worker has imported Flask at boot; a few requests each bring in what a request touches.
        await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => server.Client.GetStringAsync("/")));

        var workers = server.WorkerPids();
        Assert.Equal(5, workers.Count);
        var perWorker = workers.Select(ProcessTree.PssMiB).ToList();
        var master = ProcessTree.PssMiB(server.Pid);

        Assert.True(perWorker.Average() <= WorkerPssBoundMiB,
            $"Flask workers take {perWorker.Average():0.0} MiB PSS each ({string.Join(", ", perWorker.Select(p => p.ToString("0.0")))}); bound {WorkerPssBoundMiB}.");
        Assert.True(master <= MasterPssBoundMiB, $"The master takes {master:0.0} MiB PSS; bound {MasterPssBoundMiB}.");
    }

    [Fact]
    public async Task Hup_UnderLoad_PutsNewCodeInFrontOfClients_WithinTheBound()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-reload-time-").FullName;
        var module = Path.Combine(dir, "versioned.py");
        ReloadTests.WriteApp(module, "v1");
        await using var server = await GunicornServer.StartAsync(
            ["--python", DebianPython, "--chdir", dir, "-w", "5", "versioned:app"], dir);
        var load = ContinuousLoad.Start(server.Client, "/", clients: 4);
        await Eventually.True(() => load.Requests > 100, Deadline, "the load to run");

        ReloadTests.WriteApp(module, "v2");
        var watch = Stopwatch.StartNew();
        server.Signal(Signals.HUP);
        await Eventually.True(async () => await server.Client.GetStringAsync("/") == "v2", Deadline, "the new code to serve");
        var reloadToServing = watch.Elapsed;

        Assert.Empty(await load.StopAsync());
        Assert.True(reloadToServing <= ReloadToServingBound,
            $"New code served {reloadToServing.TotalSeconds:0.00} s after HUP; bound {ReloadToServingBound.TotalSeconds} s.");
    }
}
