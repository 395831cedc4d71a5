using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Gunicorn.Tests.Infrastructure;

/// <summary>
/// A real gunicorn-net master started by a test: bound to 127.0.0.1 port 0 unless the test binds elsewhere, with its
/// error log captured line by line. Stopped by pid (TERM, then KILL) when disposed.
/// </summary>
public sealed partial class GunicornServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly Lock _gate = new();
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Pid => _process.Id;
    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1/");
    public HttpClient Client { get; private set; } = new();
    public string WorkingDirectory { get; }

    private GunicornServer(Process process, string workingDirectory)
    {
        _process = process;
        WorkingDirectory = workingDirectory;
    }

    /// <param name="launcher">A program that execs gunicorn-net itself (e.g. systemd-socket-activate and its options).</param>
    /// <param name="bindFromConfig">The config file binds (its first bind must be 127.0.0.1:0): no <c>-b</c> is added.</param>
    /// <param name="binary">Another installation's gunicorn-net (a test's private copy); default <see cref="Binary.Path"/>.</param>
    public static async Task<GunicornServer> StartAsync(IEnumerable<string> args, string? workingDirectory = null,
        IReadOnlyDictionary<string, string>? environment = null, bool waitForReady = true, IReadOnlyList<string>? launcher = null,
        bool bindFromConfig = false, string? binary = null)
    {
        var program = binary ?? Binary.Path;
        var argList = args.ToList();
        if (!argList.Contains("-b") && !argList.Contains("--bind") && launcher is null && !bindFromConfig)
        {
            argList.InsertRange(0, ["-b", "127.0.0.1:0"]);
        }
        if (launcher is not null)
        {
            argList = [.. launcher.Skip(1), program, .. argList];
        }
        workingDirectory ??= Directory.CreateTempSubdirectory("gunicorn-net-it-").FullName;
        var start = new ProcessStartInfo(launcher?[0] ?? program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory,
        };
        argList.ForEach(start.ArgumentList.Add);
        start.Environment.Remove("GUNICORN_CMD_ARGS");
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }
        var process = Process.Start(start)!;
        var server = new GunicornServer(process, workingDirectory);
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => server._exited.TrySetResult();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (waitForReady)
        {
            var listening = await server.WaitForLogAsync(@"Listening at: http://127\.0\.0\.1:(\d+)", TimeSpan.FromSeconds(30));
            server.BaseAddress = new Uri($"http://127.0.0.1:{listening.Groups[1].Value}/");
            server.Client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
            await server.WaitForLogAsync(@"All \d+ workers ready", TimeSpan.FromSeconds(30));
        }
        return server;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_gate)
        {
            _lines.Add(line);
        }
    }

    public string Log
    {
        get
        {
            lock (_gate)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    public int LineCount
    {
        get
        {
            lock (_gate)
            {
                return _lines.Count;
            }
        }
    }

    /// <summary>Waits for a log line matching <paramref name="pattern"/>, looking at lines from <paramref name="fromLine"/> on.</summary>
    public async Task<Match> WaitForLogAsync(string pattern, TimeSpan deadline, int fromLine = 0)
    {
        var regex = new Regex(pattern);
        var watch = Stopwatch.StartNew();
        while (true)
        {
            lock (_gate)
            {
                foreach (var line in _lines.Skip(fromLine))
                {
                    var match = regex.Match(line);
                    if (match.Success)
                    {
                        return match;
                    }
                }
            }
            if (watch.Elapsed > deadline || (_process.HasExited && watch.Elapsed > TimeSpan.FromSeconds(1)))
            {
                throw new TimeoutException($"No log line matched /{pattern}/ within {deadline.TotalSeconds:0.#} s. Log:\n{Log}");
            }
            await Task.Delay(Eventually.PollInterval);
        }
    }

    /// <summary>The master's workers: gunicorn-net workers by their title, ASP.NET Core apps by their dll (hook commands are not).</summary>
    public IReadOnlyList<int> WorkerPids() =>
        ProcessTree.Children(Pid).Where(pid => ProcessTree.Title(pid) is var title && (title.Contains("worker") || title.EndsWith(".dll"))).ToList();

    public void Signal(int signal) => Signals.Send(Pid, signal);

    public async Task<int> WaitForExitAsync(TimeSpan deadline)
    {
        var finished = await Task.WhenAny(_exited.Task, Task.Delay(deadline));
        if (finished != _exited.Task)
        {
            throw new TimeoutException($"gunicorn-net (pid {Pid}) did not exit within {deadline.TotalSeconds:0.#} s. Log:\n{Log}");
        }
        // The last lines of output may still be on their way; a master started by USR2 holds the output open, so
        // the wait for its end is bounded.
        using var drained = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await _process.WaitForExitAsync(drained.Token);
        }
        catch (OperationCanceledException)
        {
            // Output still open: another process shares it.
        }
        return _process.ExitCode;
    }

    public bool HasExited => _process.HasExited;

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!_process.HasExited)
        {
            var workers = WorkerPids();
            Signals.Send(Pid, Signals.TERM);
            if (await Task.WhenAny(_exited.Task, Task.Delay(TimeSpan.FromSeconds(15))) != _exited.Task)
            {
                _process.Kill();
                foreach (var worker in workers.Where(ProcessTree.IsAlive))
                {
                    Signals.Send(worker, Signals.KILL);
                }
            }
        }
        _process.Dispose();
    }
}
