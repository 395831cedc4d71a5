using System.Diagnostics;

namespace Gunicorn.Tests.Infrastructure;

/// <summary>Runs a client program from Debian (curl, h2load) to completion with a deadline.</summary>
public static class ExternalTool
{
    public sealed record Result(int ExitCode, string Output);

    public static bool IsInstalled(string path) => File.Exists(path);

    public static async Task<Result> RunAsync(string path, IEnumerable<string> args, TimeSpan deadline)
    {
        var start = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true };
        args.ToList().ForEach(start.ArgumentList.Add);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(deadline);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw new TimeoutException($"{path} did not finish within {deadline.TotalSeconds:0.#} s");
        }
        return new Result(process.ExitCode, await output + await errors);
    }
}
