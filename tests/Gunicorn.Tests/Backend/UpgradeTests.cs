using System.Net.Sockets;
using System.Text;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Backend;

/// <summary>USR2's binary upgrade and systemd's notify protocol: what a service manager and an operator rely on.</summary>
public class UpgradeTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Usr2_StartsANewMasterOnTheSameSockets_AndTheOldOneStopsWithoutAFailedRequest()
    {
        var hooks = new HookRecorder(["pre_exec"], "GUNICORN_HOOK");
        var dir = hooks.Directory;
        var pidFile = Path.Combine(dir, "master.pid");
        await using var server = await GunicornServer.StartAsync(["-w", "1", "-p", pidFile, "@echo"], dir);
        var load = ContinuousLoad.Start(server.Client);
        var newMaster = 0;
        try
        {
            server.Signal(Signals.USR2);
            var started = await server.WaitForLogAsync(@"Upgrading: started a new master \(pid (\d+)\)", Deadline);
            newMaster = int.Parse(started.Groups[1].Value);
            Assert.Equal(["pre_exec pre_exec"], hooks.Lines); // the old master ran pre_exec, once, before starting it
            await server.WaitForLogAsync($@"\[{newMaster}\] \[INFO\] Using 1 socket\(s\) from the old master \(GUNICORN_FD\); bind is ignored", Deadline);
            await server.WaitForLogAsync($@"\[{newMaster}\] \[INFO\] All 1 workers ready", Deadline);
            Assert.Equal(newMaster.ToString(), File.ReadAllText(pidFile).Trim());
            Assert.Equal(server.Pid.ToString(), File.ReadAllText(pidFile + ".oldbin").Trim());

            server.Signal(Signals.TERM);
            Assert.Equal(0, await server.WaitForExitAsync(Deadline));
            // Only the new master's worker answers now, on the same port.
            var worker = int.Parse(await server.Client.GetStringAsync("/pid"));
            Assert.Contains(worker, ProcessTree.Children(newMaster));
            Assert.False(File.Exists(pidFile + ".oldbin"));
            // The old master removed its own control socket only: gunicorn-net ctl now reaches the new master.
            var status = await Binary.RunAsync(["ctl", "status", "--json"], dir);
            Assert.True(status.Stdout.Replace(" ", "").Contains($"\"masterPid\":{newMaster}"), $"ctl status: {status.Stdout} {status.Stderr}");
            Assert.Equal(newMaster.ToString(), File.ReadAllText(pidFile).Trim());
            Assert.Empty(await load.StopAsync());
        }
        finally
        {
            if (newMaster > 0 && ProcessTree.IsAlive(newMaster))
            {
                Signals.Send(newMaster, Signals.TERM);
                await Eventually.True(() => !ProcessTree.IsAlive(newMaster), Deadline, "the new master to stop");
            }
        }
    }

    [Fact]
    public async Task NotifySocket_GetsReadyReloadingReadyStopping_AndWorkersDoNotSeeIt()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-notify-").FullName;
        var path = Path.Combine(dir, "notify.sock");
        using var systemd = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        systemd.Bind(new UnixDomainSocketEndPoint(path));
        await using var server = await GunicornServer.StartAsync(["-w", "1", "@echo"], dir,
            new Dictionary<string, string> { ["NOTIFY_SOCKET"] = path });
        Assert.Contains($"READY=1\nMAINPID={server.Pid}", await ReceiveAsync(systemd));
        Assert.Equal("", await server.Client.GetStringAsync("/env?name=NOTIFY_SOCKET"));

        server.Signal(Signals.HUP);
        Assert.StartsWith("RELOADING=1\nMONOTONIC_USEC=", await ReceiveAsync(systemd));
        Assert.StartsWith("READY=1", await ReceiveAsync(systemd));
        server.Signal(Signals.TERM);
        Assert.StartsWith("STOPPING=1", await ReceiveAsync(systemd));
    }

    private static async Task<string> ReceiveAsync(Socket socket)
    {
        var buffer = new byte[4096];
        using var deadline = new CancellationTokenSource(Deadline);
        var received = await socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token);
        return Encoding.UTF8.GetString(buffer, 0, received);
    }
}
