using System.Diagnostics;
using Gunicorn.Backend.Logging;

namespace Gunicorn.Backend.Arbiter;

/// <summary>The arbiter's answers to the control socket (gunicorn-net ctl).</summary>
public sealed partial class Arbiter
{
    private async Task<object> HandleControlAsync(ControlRequest request)
    {
        switch (request.Command)
        {
            case "reload":
                ErrorLog.Info("Reload requested over the control socket");
                await ReloadAsync();
                return new { started = _pendingGeneration is not null, generation = _pendingGeneration ?? _servingGeneration, lastReload = _lastReload };
            case "scale" when request.Argument is { } count and >= 0:
                ChangeWorkerCount(count);
                return new { workers = _targetWorkers };
            default:
                return Status();
        }
    }

    private ArbiterStatus Status() => new(
        Environment.ProcessId,
        _targetWorkers,
        _servingGeneration,
        _pendingGeneration,
        _workers.OrderBy(w => w.Age).Select(w => new WorkerStatus(
            w.Pid, w.Generation, w.Age, w.State.ToString().ToLowerInvariant(),
            Math.Round(Stopwatch.GetElapsedTime(w.StartedAt).TotalSeconds, 1), w.RequestsServed, _front.InFlight(w.Key))).ToList(),
        _lastExit,
        _lastReload);
}
