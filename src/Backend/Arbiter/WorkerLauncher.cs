using System.Diagnostics;
using System.IO.Pipes;
using System.Threading.Channels;
using Gunicorn.Shared.Contract;

namespace Gunicorn.Backend.Arbiter;

/// <summary>
/// Starts worker processes, one at a time: an inheritable pipe made for one child would leak into a sibling started
/// concurrently. Each worker's pipe is read on its own task, which turns lines and EOF into arbiter events.
/// </summary>
public sealed class WorkerLauncher(ChannelWriter<ArbiterEvent> events) : IWorkerLauncher
{
    private static readonly Lock SpawnGate = new();

    /// <summary>gunicorn-net-worker, installed beside gunicorn-net.</summary>
    public static string WorkerExecutable => Path.Combine(AppContext.BaseDirectory, WorkerContract.WorkerExecutable);

    /// <summary>Starts a worker of <paramref name="generation"/>, with that generation's raw_env.</summary>
    public WorkerHandle Spawn(WorkerStartInfo info, WorkerGeneration generation)
    {
        var pipe = new AnonymousPipeServerStream(PipeDirection.In, HandleInheritability.Inheritable);
        var rawEnv = generation.Config.Pool.RawEnv;
        var start = WorkerContract.IsAspNetCoreApp(info.App)
            ? AspNetCoreApp.StartInfo(info, pipe.GetClientHandleAsString(), rawEnv, generation.Config.Pool.DotnetDiagnostics)
            : OwnWorkerStartInfo(info, pipe.GetClientHandleAsString(), rawEnv);
        Process process;
        lock (SpawnGate)
        {
            try
            {
                process = Process.Start(start) ?? throw new InvalidOperationException("Process.Start returned no process.");
            }
            catch
            {
                pipe.Dispose();
                throw;
            }
            // Close our copy of the write end at once, or EOF never comes when the worker dies.
            pipe.DisposeLocalCopyOfClientHandle();
        }
        var os = new OsWorkerProcess(process);
        var worker = new WorkerHandle(os, generation, info.Age, info.SocketPath);
        _ = Task.Run(() => ReadPipeAsync(worker, os, pipe));
        return worker;
    }

    private static ProcessStartInfo OwnWorkerStartInfo(WorkerStartInfo info, string pipeHandle, IReadOnlyList<string> rawEnv)
    {
        var start = new ProcessStartInfo(WorkerExecutable) { UseShellExecute = false };
        // The title as an argument reserves argv space for ProcessTitle to overwrite, and reads well in ps meanwhile.
        start.ArgumentList.Add(info.Title);
        RawEnvironment.ApplyTo(start, rawEnv);
        start.Environment[WorkerContract.StartInfoVariable] = WorkerContract.Serialize(info);
        start.Environment.Remove(Platform.SystemdNotify.SocketVariable); // only the master talks to systemd
        start.Environment[WorkerContract.PipeVariable] = pipeHandle;
        return start;
    }

    private async Task ReadPipeAsync(WorkerHandle worker, OsWorkerProcess process, AnonymousPipeServerStream pipe)
    {
        using (pipe)
        using (var reader = new StreamReader(pipe))
        {
            try
            {
                while (await reader.ReadLineAsync() is { } line)
                {
                    if (line == WorkerContract.ReadyMessage)
                    {
                        await events.WriteAsync(new WorkerReady(worker));
                    }
                    else if (line == WorkerContract.RecycleMessage)
                    {
                        await events.WriteAsync(new WorkerWantsRecycling(worker));
                    }
                    else if (line.StartsWith(WorkerContract.HeartbeatPrefix, StringComparison.Ordinal)
                             && long.TryParse(line.AsSpan(WorkerContract.HeartbeatPrefix.Length), out var served))
                    {
                        await events.WriteAsync(new WorkerHeartbeat(worker, served, Stopwatch.GetTimestamp()));
                    }
                }
            }
            catch (IOException)
            {
                // A broken pipe is the same news as EOF: the worker is gone.
            }
        }
        await process.WaitForExitAsync();
        await events.WriteAsync(new WorkerExited(worker, process.ExitCode));
    }
}
