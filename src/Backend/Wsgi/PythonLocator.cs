using System.Diagnostics;
using System.Text.Json;

namespace Gunicorn.Backend.Wsgi;

/// <summary>The interpreter to embed: its executable and its shared libpython, found by asking it (sysconfig).</summary>
public sealed record PythonInstallation(string Executable, string Library, string Version);

public static class PythonLocator
{
    private const string Probe = """
        import json, sys, sysconfig, os
        v = sysconfig.get_config_var
        names = [n for n in (v("INSTSONAME"), v("LDLIBRARY")) if n and ".so" in n]
        dirs = [d for d in (v("LIBDIR"), v("LIBPL"), os.path.join(v("LIBDIR") or "", v("MULTIARCH") or "")) if d]
        candidates = [os.path.join(d, n) for n in names for d in dirs]
        print(json.dumps({"executable": sys.executable, "version": sys.version.split()[0], "candidates": candidates}))
        """;

    /// <summary>Finds the shared library for <paramref name="python"/>; throws with what to install when there is none.</summary>
    public static PythonInstallation Locate(string python)
    {
        var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(Probe);
        string output;
        try
        {
            using var process = Process.Start(start)!;
            output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"cannot run the Python interpreter \"{python}\": {e.Message}. Install python3 or set `python` to an interpreter.");
        }
        using var probe = JsonDocument.Parse(output);
        var root = probe.RootElement;
        var executable = root.GetProperty("executable").GetString()!;
        var version = root.GetProperty("version").GetString()!;
        var library = root.GetProperty("candidates").EnumerateArray().Select(c => c.GetString()!).FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException(
                $"{executable} (Python {version}) has no shared libpython. On Debian: apt-get install libpython{string.Join('.', version.Split('.').Take(2))}.");
        return new PythonInstallation(executable, library, version);
    }
}
