using System.Text;
using Gunicorn.Shared.Contract;
using Gunicorn.Shared.Logging;
using Gunicorn.Shared.Platform;

namespace Gunicorn.Worker.Hosting;

/// <summary>
/// The worker's end of the pipe to the master: readiness, then heartbeats carrying the request count, written by a
/// thread of its own (no thread pool in a worker). A failed write means the master is gone.
/// </summary>
internal sealed class MasterPipe(int fd, long maxRequests, Action onMasterGone) : IDisposable
{
    private readonly Lock _gate = new();
    private readonly ManualResetEventSlim _stopped = new();
    private long _requestsServed;
    private bool _gone;

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
        var thread = new Thread(() =>
        {
            while (!_stopped.Wait(heartbeatInterval) && !_gone)
            {
                if (responsive())
                {
                    Send(WorkerContract.HeartbeatPrefix + Interlocked.Read(ref _requestsServed));
                }
            }
        }) { IsBackground = true, Name = "heartbeat" };
        thread.Start();
    }

    private void Send(string line)
    {
        lock (_gate)
        {
            if (_gone)
            {
                return;
            }
            var bytes = Encoding.ASCII.GetBytes(line + "\n");
            if (!Posix.TryWrite(fd, bytes))
            {
                _gone = true;
                ErrorLog.Warning("Parent changed, shutting down: the master is gone (its pipe is closed).");
                onMasterGone();
            }
        }
    }

    public void Dispose()
    {
        _stopped.Set();
        Posix.Close(fd);
    }
}
