using System.Diagnostics;
using Gunicorn.Backend.Arbiter;
using Gunicorn.Settings.Records;
using Gunicorn.Shared.Contract;

namespace Gunicorn.Front.Cli;

/// <summary>
/// <c>--check-config</c> loads the app as gunicorn's does: a Python app is imported (module, then the callable) by
/// the configured interpreter, from chdir, with pythonpath and raw_env, as a worker would; an ASP.NET Core app must
/// exist. Nothing is bound and no worker starts.
/// </summary>
public static class AppImportCheck
{
    private static readonly TimeSpan ImportPatience = TimeSpan.FromSeconds(60);

    // The worker's own rule (wsgi_runner.load): module:callable, module (module:application), module:factory(args).
    private const string Script = """
        import sys
        module_name, _, expression = sys.argv[1].partition(":")
        expression = expression or "application"
        module = __import__(module_name, fromlist=["_"])
        name, _, call = expression.partition("(")
        app = getattr(module, name.strip())
        if call:
            app = eval("app(" + call, {"app": app})
        if not callable(app):
            raise TypeError("%s is not callable" % sys.argv[1])
        """;

    /// <summary>Null when the app loads; otherwise why not, in words for the operator.</summary>
    public static async Task<string?> ProblemAsync(GunicornConfig config)
    {
        if (config.App.Target is not { } target || !WorkerContract.IsPythonApp(target))
        {
            return null; // the built-in apps; an App.dll's existence is checked with the rest of the config
        }
        string python;
        try
        {
            python = Gunicorn.Backend.Python.PythonLocator.Locate(config.App.Python).Executable;
        }
        catch (Gunicorn.Backend.Python.PythonUnavailableException e)
        {
            return e.Message;
        }
        var start = new ProcessStartInfo(python)
        {
            WorkingDirectory = config.App.Chdir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            ArgumentList = { "-c", Script, target },
        };
        RawEnvironment.ApplyTo(start, config.Pool.RawEnv);
        var paths = config.App.PythonPath.Prepend(config.App.Chdir);
        start.Environment["PYTHONPATH"] = string.Join(':', start.Environment.TryGetValue("PYTHONPATH", out var existing) && !string.IsNullOrEmpty(existing)
            ? paths.Append(existing) : paths);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(ImportPatience);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return $"importing {target} did not finish within {ImportPatience.TotalSeconds:0} s (the import hangs?)";
        }
        if (process.ExitCode == 0)
        {
            return null;
        }
        var lines = (await stderr).TrimEnd().Split('\n');
        return $"{target} cannot be imported: {lines[^1].Trim()}\n{string.Join('\n', lines.TakeLast(12))}";
    }
}
