using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Gunicorn.AspNetWorker;

/// <summary>
/// gunicorn's worker-side hooks in command form for an ASP.NET Core app: post_worker_init once the app serves,
/// worker_int on INT or QUIT, worker_abort on ABRT (a timeout), worker_exit when the host has stopped. As the other
/// workers run them: no shell, the event in GUNICORN_* variables, killed after hook_timeout. The master passes them
/// in GUNICORN_NET_WORKER_HOOKS, one per line: the hook's name, then its argv, tab-separated.
/// </summary>
public sealed class WorkerHooks
{
    private const int SigAbrt = 6;

    private readonly Dictionary<string, string[]> _hooks = [];
    private readonly TimeSpan _timeout;
    private readonly Dictionary<string, string> _variables;
    private readonly List<PosixSignalRegistration> _signals = [];

    private WorkerHooks(string spec, TimeSpan timeout, Dictionary<string, string> variables)
    {
        foreach (var line in spec.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split('\t');
            _hooks[fields[0]] = fields[1..];
        }
        _timeout = timeout;
        _variables = variables;
    }

    /// <summary>The hooks the master passed, or null when there are none.</summary>
    public static WorkerHooks? FromEnvironment()
    {
        var spec = Environment.GetEnvironmentVariable("GUNICORN_NET_WORKER_HOOKS");
        Environment.SetEnvironmentVariable("GUNICORN_NET_WORKER_HOOKS", null);
        if (string.IsNullOrEmpty(spec))
        {
            return null;
        }
        var timeout = double.TryParse(Environment.GetEnvironmentVariable("GUNICORN_NET_HOOK_TIMEOUT"), NumberStyles.Float,
            CultureInfo.InvariantCulture, out var seconds) ? seconds : 30;
        var variables = new Dictionary<string, string>
        {
            ["GUNICORN_MASTER_PID"] = Environment.GetEnvironmentVariable("GUNICORN_NET_MASTER_PID") ?? "",
            ["GUNICORN_WORKER_PID"] = Environment.ProcessId.ToString(CultureInfo.InvariantCulture),
            ["GUNICORN_WORKER_AGE"] = Environment.GetEnvironmentVariable("GUNICORN_NET_WORKER_AGE") ?? "",
        };
        return new WorkerHooks(spec, TimeSpan.FromSeconds(timeout), variables);
    }

    /// <summary>worker_int and worker_abort on their signals, then the signals do what they would have done. Registered
    /// only for hooks that are set: otherwise the app's own handling of these signals is untouched.</summary>
    public void ListenToSignals()
    {
        if (_hooks.ContainsKey("worker_int"))
        {
            foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGQUIT })
            {
                _signals.Add(PosixSignalRegistration.Create(signal, _ => Run("worker_int")));
            }
        }
        if (_hooks.ContainsKey("worker_abort"))
        {
            _signals.Add(PosixSignalRegistration.Create((PosixSignal)SigAbrt, _ => Run("worker_abort")));
        }
    }

    public void Run(string name)
    {
        if (!_hooks.TryGetValue(name, out var argv) || argv.Length == 0)
        {
            return;
        }
        var start = new ProcessStartInfo(argv[0]) { UseShellExecute = false };
        foreach (var argument in argv[1..])
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["GUNICORN_HOOK"] = name;
        foreach (var (key, value) in _variables)
        {
            start.Environment[key] = value;
        }
        try
        {
            using var process = Process.Start(start)!;
            if (!process.WaitForExit(_timeout))
            {
                process.Kill(entireProcessTree: true);
                Console.Error.WriteLine($"[{Environment.ProcessId}] [ERROR] Hook {name} ({string.Join(' ', argv)}) did not finish within hook_timeout ({_timeout.TotalSeconds}s) and was killed.");
            }
            else if (process.ExitCode != 0)
            {
                Console.Error.WriteLine($"[{Environment.ProcessId}] [ERROR] Hook {name} ({string.Join(' ', argv)}) exited with code {process.ExitCode}.");
            }
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Console.Error.WriteLine($"[{Environment.ProcessId}] [ERROR] Hook {name} could not run {argv[0]}: {e.Message}");
        }
    }
}
