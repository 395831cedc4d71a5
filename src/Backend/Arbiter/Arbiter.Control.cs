using System.Diagnostics;
using Gunicorn.Shared.Logging;

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
                Reload();
                return new ReloadReply(_pending is not null, (_pending ?? _serving).Number, _lastReload);
            case "scale" when request.Argument is { } count and >= 0:
                ChangeWorkerCount(count);
                return new ScaleReply(_serving.TargetWorkers);
            default:
                return Status();
        }
    }

    private ArbiterStatus Status() => new(
        Environment.ProcessId,
        _serving.TargetWorkers,
        _serving.Number,
        _pending?.Number,
        _workers.OrderBy(w => w.Age).Select(w => new WorkerStatus(
            w.Pid, w.Generation.Number, w.Age, w.State.ToString().ToLowerInvariant(),
            Math.Round(Stopwatch.GetElapsedTime(w.StartedAt).TotalSeconds, 1), w.RequestsServed, _front.InFlight(w.Key),
            _front.WebSockets(w.Key))).ToList(),
        _lastExit,
        _lastReload,
        ShortOfWorkers(),
        _front.DescribeClientLimits(),
        GC.GetTotalAllocatedBytes(precise: true),
        _front.SendfileBytes(),
        Platform.FrontSocketEngine.EventThreads ?? 0);
}
