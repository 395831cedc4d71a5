using System.Diagnostics;

namespace Gunicorn.Tests.Infrastructure;

/// <summary>
/// The real gunicorn-net: the published native executable when GUNICORN_NET_BINARY names it (test.sh does), else the
/// build next to the tests. Run to completion with a deadline.
/// </summary>
public static class Binary
{
    public static readonly string Path = Environment.GetEnvironmentVariable("GUNICORN_NET_BINARY") is { Length: > 0 } published
        ? published
        : System.IO.Path.Combine(AppContext.BaseDirectory, "gunicorn-net");

    /// <summary>The directory the binary sits in (with gunicorn-net-worker and the ASP.NET Core startup hook).</summary>
    public static string Directory => System.IO.Path.GetDirectoryName(Path)!;

    /// <summary>True for the published Native AOT executable; the build beside the tests is a JIT one (gunicorn-net.dll).</summary>
    public static bool IsNative => !File.Exists(System.IO.Path.Combine(Directory, "gunicorn-net.dll"));

    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static async Task<Result> RunAsync(IEnumerable<string> args, string? workingDirectory = null,
        IReadOnlyDictionary<string, string>? environment = null, TimeSpan? deadline = null)
    {
        var start = new ProcessStartInfo(Path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? System.IO.Path.GetTempPath(),
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        start.Environment.Remove("GUNICORN_CMD_ARGS");
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(deadline ?? TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"gunicorn-net {string.Join(' ', args)} did not exit in time.\n{await stderr}");
        }
        // A child that inherited our pipes could hold them open: bound the reads too.
        await Task.WhenAll(stdout, stderr).WaitAsync(deadline ?? TimeSpan.FromSeconds(30));
        return new Result(process.ExitCode, await stdout, await stderr);
    }
}
