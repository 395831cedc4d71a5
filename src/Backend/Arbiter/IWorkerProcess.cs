using System.Diagnostics;
using Gunicorn.Shared.Contract;
using Gunicorn.Shared.Platform;

namespace Gunicorn.Backend.Arbiter;

/// <summary>What the arbiter needs of a worker process: its pid, signals, and its end.</summary>
public interface IWorkerProcess : IDisposable
{
    int Pid { get; }

    void Signal(int signal);

    Task WaitForExitAsync();
}

/// <summary>Starts workers; the arbiter's only way to make processes (a test gives it scripted ones).</summary>
public interface IWorkerLauncher
{
    /// <summary>Starts a worker of <paramref name="generation"/>. Its messages and its exit arrive as arbiter events.</summary>
    WorkerHandle Spawn(WorkerStartInfo info, WorkerGeneration generation);
}

/// <summary>A real worker process.</summary>
public sealed class OsWorkerProcess(Process process) : IWorkerProcess
{
    public int Pid { get; } = process.Id;

    public int ExitCode => process.ExitCode;

    public void Signal(int signal) => Posix.Kill(Pid, signal);

    public Task WaitForExitAsync() => process.WaitForExitAsync();

    public void Dispose() => process.Dispose();
}
