using System.IO.Pipes;
using Gunicorn.Backend.Contract;
using Gunicorn.Backend.Logging;

namespace Gunicorn.Backend.Workers;

/// <summary>The worker's end of the pipe to the master: readiness, then heartbeats carrying the request count.</summary>
internal sealed class MasterPipe(string handle, Action onMasterGone) : IDisposable
{
    private readonly AnonymousPipeClientStream _pipe = new(PipeDirection.Out, handle);
    private readonly Lock _gate = new();
    private Timer? _heartbeat;

    public long RequestsServed;

    public void ReportReady(TimeSpan heartbeatInterval)
    {
        Send(WorkerContract.ReadyMessage);
        _heartbeat = new Timer(_ => Send(WorkerContract.HeartbeatPrefix + Interlocked.Read(ref RequestsServed)),
            null, heartbeatInterval, heartbeatInterval);
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
