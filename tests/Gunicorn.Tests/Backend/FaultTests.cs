using System.Net;
using System.Net.Sockets;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Backend;

/// <summary>
/// Faults injected on purpose, each bounded in time and on loopback: no crash, no acknowledged request lost, and
/// recovery without an operator.
/// </summary>
public class FaultTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private const string DebianPython = "/usr/bin/python3";

    [Fact]
    public async Task MasterStoppedForFiveSeconds_KillsNoHealthyWorkerForAStaleHeartbeat()
    {
        await using var server = await GunicornServer.StartAsync(["-w", "2", "--timeout", "2", "@echo"]);
        var workers = server.WorkerPids().ToHashSet();

        Signals.Send(server.Pid, Signals.STOP);
        // The stop is the fault under test: the master must be frozen longer than timeout for it to mean anything.
        await Task.Delay(TimeSpan.FromSeconds(5));
        Signals.Send(server.Pid, Signals.CONT);

        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/pid")).StatusCode);
        }
        Assert.DoesNotContain("WORKER TIMEOUT", server.Log);
        Assert.Equal(workers, server.WorkerPids().ToHashSet());
    }

    [SkippableFact]
    public async Task WorkerAllocatingWithoutBound_UnderRlimitAs_FailsItsRequest_AndServiceContinues()
    {
        Skip.IfNot(ExternalTool.IsInstalled("/usr/bin/prlimit"), "prlimit (util-linux) sets the worker's RLIMIT_AS.");
        await using var server = await GunicornServer.StartAsync(
            ["-w", "1", "--python", DebianPython, "--chdir", RepoPaths.Combine("tests", "apps"), "memory_hog:app"]);
        var worker = server.WorkerPids().Single();
        // Room for 256 MiB more than the worker maps now: the app's allocations hit the limit within a few steps.
        var mapped = long.Parse(File.ReadAllLines($"/proc/{worker}/status").Single(l => l.StartsWith("VmSize:")).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        var limit = await ExternalTool.RunAsync("/usr/bin/prlimit", ["--pid", worker.ToString(), $"--as={mapped + (256L << 20)}"], Deadline);
        Assert.True(limit.ExitCode == 0, limit.Output);
        var from = server.LineCount;

        var hog = await server.Client.GetAsync("/hog");
        // Python raises MemoryError (the worker answers 500 and lives on), or the worker itself cannot allocate and
        // dies (the front answers 502 and the master replaces it): either way the request fails plainly, and says why.
        Assert.Contains(hog.StatusCode, new[] { HttpStatusCode.InternalServerError, HttpStatusCode.BadGateway });
        if (hog.StatusCode == HttpStatusCode.InternalServerError)
        {
            await server.WaitForLogAsync("Error handling request /hog", Deadline, from);
            await server.WaitForLogAsync("MemoryError", Deadline, from);
        }
        else
        {
            await server.WaitForLogAsync($@"Worker \(pid:{worker}\) (exited|was sent)", Deadline, from);
            await server.WaitForLogAsync("Booting worker with pid", Deadline, from);
        }
        await Eventually.True(async () => (await server.Client.GetAsync("/")).StatusCode == HttpStatusCode.OK, Deadline, "service after the fault");
        Assert.False(server.HasExited);
    }

    [Fact]
    public async Task MasterKilledWith9_EveryWorkerExitsWithinTwoSeconds_AndThePortIsFree()
    {
        var server = await GunicornServer.StartAsync(["-w", "3", "@echo"]);
        var workers = server.WorkerPids();
        var port = server.BaseAddress.Port;

        Signals.Send(server.Pid, Signals.KILL);
        await server.WaitForExitAsync(Deadline);

        await Eventually.True(() => workers.All(pid => !ProcessTree.IsAlive(pid)), TimeSpan.FromSeconds(2), "every orphaned worker to exit");
        await server.DisposeAsync();
        await using var next = await GunicornServer.StartAsync(["-b", $"127.0.0.1:{port}", "-w", "1", "@echo"]);
        Assert.Equal(HttpStatusCode.OK, (await next.Client.GetAsync("/pid")).StatusCode);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task WorkerKilledMidResponse_TheClientSeesAnErrorOrABrokenResponse_NeverATruncatedOneAsComplete(bool responseBuffering)
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-midkill-").FullName;
        await using var server = await GunicornServer.StartAsync(["--python", DebianPython, "--chdir", RepoPaths.Combine("tests", "apps"),
            "-w", "1", "--response-buffering", responseBuffering ? "true" : "false", "streaming:app"], dir);
        var worker = int.Parse(await server.Client.GetStringAsync("/pid"));
        var busy = CpuTicks(worker);

        var download = Task.Run(async () =>
        {
            using var response = await server.Client.GetAsync("/download?mib=4096", HttpCompletionOption.ResponseHeadersRead);
            if (!response.IsSuccessStatusCode)
            {
                return $"status {(int)response.StatusCode}";
            }
            await (await response.Content.ReadAsStreamAsync()).CopyToAsync(Stream.Null);
            return "complete";
        });
        // Kill it in the middle of its answer (4 GiB take many seconds): once it has spent 0.2 s of CPU on it.
        await Eventually.True(() => CpuTicks(worker) - busy > 20, Deadline, "the worker to be mid-response");
        Signals.Send(worker, Signals.KILL);

        var outcome = await Record.ExceptionAsync(() => download) is { } failure ? failure.GetType().Name : await download;
        Assert.True(outcome is "status 502" or nameof(HttpRequestException) or nameof(IOException),
            $"the client saw \"{outcome}\" for a body the worker never finished");
        await Eventually.True(() => server.WorkerPids().Any(pid => pid != worker), Deadline, "a replacement worker");
        Assert.Matches(@"^\d+$", await server.Client.GetStringAsync("/pid"));
    }

    /// <summary>CPU time a process has used so far, in clock ticks (utime + stime from /proc/PID/stat).</summary>
    private static long CpuTicks(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11]) + long.Parse(fields[12]);
    }

    [Fact]
    public async Task WorkersKilledWith9_ThenTheMaster_LeaveNothingInTheTemporaryDirectoryOnceTheNextMasterStarts()
    {
        // When each pid was killed: a file named after it but made later belongs to another process that got the pid,
        // and one made before this test began, to a process that had the pid before (a stale file of an earlier run).
        var testStart = DateTime.UtcNow.AddSeconds(-1);
        var killed = new Dictionary<int, DateTime>();
        var server = await GunicornServer.StartAsync(["-w", "4", "@echo"]);
        // 100 workers in all, four at a time (each round waits out the short crash-loop backoff).
        for (var round = 0; round < 25; round++)
        {
            var workers = server.WorkerPids();
            foreach (var pid in workers)
            {
                killed[pid] = DateTime.UtcNow;
                Signals.Send(pid, Signals.KILL);
            }
            await Eventually.True(() => server.WorkerPids().Count(pid => !killed.ContainsKey(pid)) == 4, Deadline, "four replacement workers");
        }
        var masterDirectories = Directory.GetDirectories(Path.GetTempPath(), $"gunicorn-net-{server.Pid}-*");
        Assert.Single(masterDirectories);
        var lastWorkers = server.WorkerPids();
        foreach (var pid in lastWorkers.Append(server.Pid))
        {
            killed[pid] = DateTime.UtcNow;
        }
        Signals.Send(server.Pid, Signals.KILL);
        await server.WaitForExitAsync(Deadline);
        await server.DisposeAsync();
        await Eventually.True(() => lastWorkers.All(pid => !ProcessTree.IsAlive(pid)), Deadline, "the orphaned workers to exit");

        await using (await GunicornServer.StartAsync(["-w", "1", "@echo"]))
        {
        }

        // Only files of the killed processes count: on a busy machine a killed worker's pid may since belong to another
        // process (another test's dotnet, alive or killed in turn), whose runtime files are not ours; those were made
        // after our process with that pid died. Files of a process that had the pid before this test are older still.
        var left = killed.Where(k => !ProcessTree.IsAlive(k.Key))
            .SelectMany(k => new[] { $"gunicorn-net-{k.Key}-*", $"dotnet-diagnostic-{k.Key}-*", $"clr-debug-pipe-{k.Key}-*" }
                .SelectMany(pattern => Directory.GetFileSystemEntries(Path.GetTempPath(), pattern))
                .Where(entry => File.GetCreationTimeUtc(entry) is var made && made >= testStart && made <= k.Value))
            .ToList();
        Assert.Empty(left);
    }

    [SkippableFact]
    public async Task DescriptorsExhausted_ConnectionsBeyondTheLimitFail_ThenServiceReturnsInFull()
    {
        Skip.IfNot(File.Exists("/usr/bin/prlimit"), "prlimit (util-linux) is not installed.");
        await using var server = await GunicornServer.StartAsync(["-b", "127.0.0.1:0", "-w", "1", "@echo"],
            launcher: ["/usr/bin/prlimit", "--nofile=256:256"]);
        var held = new List<TcpClient>();
        try
        {
            // Twice the master's descriptor limit: connect (the kernel's backlog accepts them), and send a request on each.
            for (var i = 0; i < 512; i++)
            {
                var client = new TcpClient();
                held.Add(client);
                using var quick = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                try
                {
                    await client.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port, quick.Token);
                    await client.GetStream().WriteAsync("GET /pid HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray(), quick.Token);
                }
                catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
                {
                    // A refusal under exhaustion is an acceptable answer.
                }
            }
            Assert.False(server.HasExited, "the master died of descriptor exhaustion");
        }
        finally
        {
            held.ForEach(c => c.Dispose());
        }

        await Eventually.True(async () =>
        {
            try
            {
                return (await server.Client.GetAsync("/pid")).StatusCode == HttpStatusCode.OK;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, Deadline, "full service after the connections closed");
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/pid")).StatusCode);
        }
    }

    [Fact]
    public async Task Usr1_WhenTheLogsCannotBeReopened_KeepsWritingTheOldFiles_AndServing()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-reopen-").FullName;
        var errorLog = Path.Combine(dir, "error.log");
        var accessLog = Path.Combine(dir, "access.log");
        await using var server = await GunicornServer.StartAsync(["-w", "1", "--error-logfile", errorLog, "--access-logfile", accessLog, "@echo"], dir,
            waitForReady: false);
        await Eventually.True(() => File.Exists(errorLog) && File.ReadAllText(errorLog).Contains("workers ready"), Deadline, "the workers to be ready");
        var port = int.Parse(System.Text.RegularExpressions.Regex.Match(File.ReadAllText(errorLog), @"Listening at: http://127\.0\.0\.1:(\d+)").Groups[1].Value);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };

        // logrotate moved the files away, and something now stands where they should be reopened.
        File.Move(errorLog, errorLog + ".1");
        File.Move(accessLog, accessLog + ".1");
        Directory.CreateDirectory(errorLog);
        Directory.CreateDirectory(accessLog);
        Signals.Send(server.Pid, Signals.USR1);
        await Eventually.True(() => File.ReadAllText(errorLog + ".1").Contains("Cannot reopen the error log"), Deadline, "the reopen failure in the old error log");

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/pid")).StatusCode);
        }
        await Eventually.True(() => File.ReadAllText(errorLog + ".1").Contains("Cannot open the access log"), Deadline, "the access log failure reported");
        Assert.False(server.HasExited);

        // Fixed and reopened: both logs are written again.
        Directory.Delete(errorLog);
        Directory.Delete(accessLog);
        Signals.Send(server.Pid, Signals.USR1);
        await Eventually.True(async () => (await client.GetAsync("/pid")).IsSuccessStatusCode && File.Exists(accessLog) && File.ReadAllText(accessLog).Contains("GET /pid"),
            Deadline, "the access log to be written again");
    }

    [Fact]
    public async Task WorkerExecutableMissing_TheMasterStaysUp_SaysWhy_AndRecoversWhenItIsBack()
    {
        // A private copy of the installation, so its worker executable can be taken away.
        var install = Directory.CreateTempSubdirectory("gunicorn-net-install-").FullName;
        foreach (var file in Directory.GetFiles(Binary.Directory, "*", SearchOption.AllDirectories).Where(f => !f.EndsWith(".dbg", StringComparison.Ordinal)))
        {
            var copy = Path.Combine(install, Path.GetRelativePath(Binary.Directory, file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy);
        }
        var worker = Path.Combine(install, "gunicorn-net-worker");
        await using var server = await GunicornServer.StartAsync(["-w", "1", "@echo"], binary: Path.Combine(install, "gunicorn-net"));
        var first = Assert.Single(server.WorkerPids());

        File.Move(worker, worker + ".away");
        Signals.Send(first, Signals.KILL);
        await server.WaitForLogAsync("Cannot start a worker: .*gunicorn-net-worker", Deadline);
        Assert.False(server.HasExited);

        File.Move(worker + ".away", worker);
        await Eventually.True(() => server.WorkerPids().Any(pid => pid != first), Deadline, "a worker once the executable is back");
        await Eventually.True(async () => (await server.Client.GetAsync("/pid")).IsSuccessStatusCode, Deadline, "service to return");
    }

    [SkippableFact]
    public async Task SpillDirectoryFull_LargeUploadsGet507_SmallRequestsKeepWorking()
    {
        Skip.IfNot(Environment.UserName == "root", "mounting a small tmpfs needs root");
        var spill = Directory.CreateTempSubdirectory("gunicorn-net-spill-full-").FullName;
        var mount = await ExternalTool.RunAsync("/bin/mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", spill], Deadline);
        Skip.IfNot(mount.ExitCode == 0, $"cannot mount a tmpfs here: {mount.Output}");
        try
        {
            await using var server = await GunicornServer.StartAsync(["-w", "1", "--client-max-body-size", "0", "@echo"],
                environment: new Dictionary<string, string> { ["TMPDIR"] = spill });

            for (var i = 0; i < 3; i++)
            {
                var large = await server.Client.PostAsync("/upload", new ByteArrayContent(new byte[8 << 20]));
                Assert.Equal((HttpStatusCode)507, large.StatusCode);
                var small = await server.Client.PostAsync("/upload", new ByteArrayContent(new byte[1000]));
                Assert.Equal(HttpStatusCode.OK, small.StatusCode);
            }
            await server.WaitForLogAsync("Cannot buffer the body of POST /upload in .*The client gets 507", Deadline);
            // Every refused body's file is gone, descriptor included: the space is free again.
            await Eventually.True(() => new DriveInfo(spill).AvailableFreeSpace > (3L << 19), Deadline, "the spill space to be freed");
        }
        finally
        {
            await ExternalTool.RunAsync("/bin/umount", ["-l", spill], Deadline);
        }
    }
}
