using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Backend;

/// <summary>
/// What the processes leave in the file system: a master killed by SIGKILL leaves its runtime directory, which the
/// next master sweeps; no process opens the .NET runtime's diagnostics socket unless the operator asks.
/// </summary>
public class RuntimeFilesTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly string SampleApp = Path.Combine(AppContext.BaseDirectory, "SampleApp.dll");

    [Fact]
    public async Task AMasterKilledWith9_LeavesItsRuntimeDirectory_AndTheNextMasterSweepsIt_ButNotALiveMastersOne()
    {
        var root = Directory.CreateTempSubdirectory("gunicorn-net-runtime-root-").FullName;
        await using var live = await GunicornServer.StartAsync(["--worker-tmp-dir", root, "-w", "1", "@echo"]);
        var liveDirectory = Assert.Single(Directory.GetDirectories(root, $"gunicorn-net-{live.Pid}-*"));

        var killed = await GunicornServer.StartAsync(["--worker-tmp-dir", root, "-w", "2", "@echo"]);
        var killedWorkers = killed.WorkerPids();
        var killedDirectory = Assert.Single(Directory.GetDirectories(root, $"gunicorn-net-{killed.Pid}-*"));
        Signals.Send(killed.Pid, Signals.KILL);
        await killed.WaitForExitAsync(Deadline);
        await Eventually.True(() => killedWorkers.All(pid => !ProcessTree.IsAlive(pid)), Deadline, "the orphaned workers to exit");
        await killed.DisposeAsync();
        Assert.True(Directory.Exists(killedDirectory), "SIGKILL leaves the directory: nothing could remove it");

        await using var next = await GunicornServer.StartAsync(["--worker-tmp-dir", root, "-w", "1", "@echo"]);

        Assert.False(Directory.Exists(killedDirectory));
        Assert.Contains("Removed 1 runtime directory left in", next.Log);
        Assert.True(Directory.Exists(liveDirectory), "a live master's directory is its own");
        Assert.Equal("200", (await live.Client.GetAsync("/pid")).StatusCode.ToString("D"));
    }

    [Fact]
    public async Task RuntimeDirectory_FollowsSystemdsRuntimeDirectoryVariable()
    {
        var systemd = Directory.CreateTempSubdirectory("gunicorn-net-systemd-runtime-").FullName;
        await using var server = await GunicornServer.StartAsync(["-w", "1", "@echo"],
            environment: new Dictionary<string, string> { ["RUNTIME_DIRECTORY"] = systemd });

        var directory = Assert.Single(Directory.GetDirectories(systemd, $"gunicorn-net-{server.Pid}-*"));
        Assert.Single(Directory.GetFileSystemEntries(directory, "*.sock"));
    }

    [SkippableFact]
    public async Task NoProcess_OpensTheRuntimesDiagnosticsSocket_UnlessAsked()
    {
        Skip.IfNot(Binary.IsNative, "The native executables have no diagnostics endpoint; a JIT build has one.");
        await using var native = await GunicornServer.StartAsync(["-w", "2", "@echo"]);
        await using var aspnet = await GunicornServer.StartAsync(["-w", "1", SampleApp]);
        await using var asked = await GunicornServer.StartAsync(["-w", "1", "--dotnet-diagnostics", "true", SampleApp]);

        foreach (var pid in new[] { native.Pid, aspnet.Pid }.Concat(native.WorkerPids()).Concat(aspnet.WorkerPids()))
        {
            Assert.Empty(DiagnosticsSockets(pid));
        }
        var askedWorker = Assert.Single(asked.WorkerPids());
        await Eventually.True(() => DiagnosticsSockets(askedWorker).Length == 1, Deadline, "the asked-for diagnostics socket");
    }

    /// <summary>
    /// The diagnostics sockets of the process that has <paramref name="pid"/> now. The runtime names them
    /// dotnet-diagnostic-PID-KEY-socket, KEY being the process's start time in clock ticks since boot (field 22 of
    /// /proc/PID/stat): a socket left by a killed process whose pid came round again has another key.
    /// </summary>
    private static string[] DiagnosticsSockets(int pid)
    {
        var startTime = File.ReadAllText($"/proc/{pid}/stat").Split(')')[^1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[19];
        return Directory.GetFiles(Path.GetTempPath(), $"dotnet-diagnostic-{pid}-{startTime}-socket");
    }
}
