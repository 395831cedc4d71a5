using System.Diagnostics;
using System.Text.Json;
using Gunicorn.Shared.Contract;

namespace Gunicorn.Backend.Python;

/// <summary>The interpreter cannot be embedded (not found, too old or too new, no shared libpython).</summary>
public sealed class PythonUnavailableException(string message) : Exception(message);

/// <summary>
/// Finds the interpreter a Python app runs on and its shared libpython, by asking it (sysconfig), once per
/// configuration in the master: workers then load the library directly, without starting a second Python to probe.
/// </summary>
public static class PythonLocator
{
    /// <summary>The CPython versions whose C API the worker's binding was written and tested against.</summary>
    public static readonly Version Oldest = new(3, 9), Newest = new(3, 13);

    private const string Probe = """
        import json, sys, sysconfig, os
        v = sysconfig.get_config_var
        names = [n for n in (v("INSTSONAME"), v("LDLIBRARY")) if n and ".so" in n]
        dirs = [d for d in (v("LIBDIR"), v("LIBPL"), os.path.join(v("LIBDIR") or "", v("MULTIARCH") or "")) if d]
        candidates = [os.path.join(d, n) for n in names for d in dirs]
        print(json.dumps({"executable": sys.executable, "version": sys.version.split()[0],
                          "shared": bool(v("Py_ENABLE_SHARED")), "candidates": candidates}))
        """;

    /// <exception cref="PythonUnavailableException">The message names the interpreter and the fix.</exception>
    public static PythonInterpreter Locate(string python)
    {
        var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(Probe);
        string output, errors;
        int exitCode;
        try
        {
            using var process = Process.Start(start)!;
            var stderr = process.StandardError.ReadToEndAsync();
            output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            errors = stderr.Result;
            exitCode = process.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new PythonUnavailableException(
                $"cannot run the Python interpreter \"{python}\": {e.Message}. Install python3 (Debian: apt-get install python3) or set `python` to an interpreter.");
        }
        if (exitCode != 0)
        {
            throw new PythonUnavailableException($"the Python interpreter \"{python}\" failed to describe itself (exit code {exitCode}): {errors.Trim()}");
        }
        using var probe = JsonDocument.Parse(output);
        var root = probe.RootElement;
        var executable = root.GetProperty("executable").GetString()!;
        var version = root.GetProperty("version").GetString()!;
        var parsed = Version.Parse(string.Join('.', version.Split('.').Take(2).Select(p => new string(p.TakeWhile(char.IsDigit).ToArray()))));
        if (parsed < Oldest || parsed > Newest)
        {
            throw new PythonUnavailableException(
                $"{executable} is Python {version}; gunicorn-net embeds Python {Oldest} to {Newest}. Set `python` to a supported interpreter.");
        }
        var majorMinor = $"{parsed.Major}.{parsed.Minor}";
        var library = root.GetProperty("candidates").EnumerateArray().Select(c => c.GetString()!).FirstOrDefault(File.Exists);
        if (library is null)
        {
            var why = root.GetProperty("shared").GetBoolean()
                ? $"its shared library libpython{majorMinor}.so is not installed"
                : "it was built without a shared library (--enable-shared)";
            throw new PythonUnavailableException(
                $"{executable} (Python {version}) cannot be embedded: {why}. Install the distribution's libpython " +
                $"(Debian: apt-get install libpython{majorMinor}), or rebuild it with --enable-shared " +
                $"(pyenv: PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install {version}), or set `python` to another interpreter.");
        }
        return new PythonInterpreter(executable, library, version);
    }
}
