using System.IO.Pipes;
using Gunicorn.Backend.Contract;
using Gunicorn.Backend.Logging;

namespace Gunicorn.Backend.Workers;

/// <summary>The worker's end of the pipe to the master: readiness, then heartbeats carrying the request count.</summary>
internal sealed class MasterPipe(string handle, long maxRequests, Action onMasterGone) : IDisposable
{
    private readonly AnonymousPipeClientStream _pipe = new(PipeDirection.Out, handle);
    private readonly Lock _gate = new();
    private Timer? _heartbeat;

    private long _requestsServed;

    /// <summary>Counts a finished request; at max_requests, asks the master for a replacement (once).</summary>
    public void CountRequest()
    {
        if (Interlocked.Increment(ref _requestsServed) == maxRequests)
        {
            Send(WorkerContract.RecycleMessage);
        }
    }

    /// <param name="responsive">Asked before each beat: a worker whose app has been busy with one request for too long
    /// stays silent, so the master's timeout kills it as gunicorn's does (a sync worker's timeout bounds a request).</param>
    public void ReportReady(TimeSpan heartbeatInterval, Func<bool> responsive)
    {
        Send(WorkerContract.ReadyMessage);
        _heartbeat = new Timer(_ =>
        {
            if (responsive())
            {
                Send(WorkerContract.HeartbeatPrefix + Interlocked.Read(ref _requestsServed));
            }
        }, null, heartbeatInterval, heartbeatInterval);
    }

    private void Send(string line)
    {
        try
        {
            lock (_gate)
            {
                var bytes = System.Text.Encoding.ASCII.GetBytes(line + "\n");
                _pipe.Write(bytes);
                _pipe.Flush();
            }
        }
        catch (IOException)
        {
            _heartbeat?.Dispose();
            ErrorLog.Warning("Parent changed, shutting down: the master is gone (its pipe is closed).");
            onMasterGone();
        }
    }

    public void Dispose()
    {
        _heartbeat?.Dispose();
        _pipe.Dispose();
    }
}
