using System.Diagnostics;
using Gunicorn.Shared.Logging;
using Gunicorn.Backend.Platform;
using Gunicorn.Shared.Platform;
using Gunicorn.Front.Listeners;

namespace Gunicorn.Front.Hosting;

/// <summary>
/// USR2, gunicorn's binary upgrade: start a new master from the binary now on disk, with the same command line and
/// working directory, handing it every listening socket (GUNICORN_FD). Both masters then serve from the same sockets;
/// the operator stops the old one with TERM once the new one is ready, and no connection is refused in between. The
/// pidfile is renamed to <c>PIDFILE.oldbin</c> while both run, and renamed back if the new master dies.
/// </summary>
public sealed class BinaryUpgrade(FrontTier front, PidFile? pidFile)
{
    private Process? _newMaster;

    public void Start()
    {
        if (_newMaster is { HasExited: false })
        {
            ErrorLog.Warning($"USR2 ignored: a new master (pid {_newMaster.Id}) is already running; stop this master (pid {Environment.ProcessId}) with TERM, or the new one first.");
            return;
        }
        var fds = front.DuplicateListenersForNewMaster();
        var start = new ProcessStartInfo(Environment.ProcessPath!) { WorkingDirectory = Environment.CurrentDirectory };
        // Started as `dotnet gunicorn-net.dll ...`, the first argument is the program itself: keep it.
        var isHost = Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet";
        Environment.GetCommandLineArgs().Skip(isHost ? 0 : 1).ToList().ForEach(start.ArgumentList.Add);
        start.Environment[InheritedSockets.UpgradeVariable] = string.Join(',', fds);
        Gunicorn.Backend.Platform.FrontSocketEngine.RemoveFrom(start); // the new master decides for itself
        pidFile?.MoveAside();
        try
        {
            _newMaster = Process.Start(start)!;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or IOException)
        {
            pidFile?.MoveBack();
            ErrorLog.Error($"USR2: could not start a new master from {start.FileName}: {e.Message}. This master keeps serving.");
            return;
        }
        finally
        {
            fds.ToList().ForEach(fd => Posix.Close(fd)); // the child has its copies; this master keeps its own
        }
        ErrorLog.Info($"Upgrading: started a new master (pid {_newMaster.Id}) from {start.FileName} with {fds.Count} inherited socket(s). " +
                      $"Once it logs that its workers are ready, stop this master (pid {Environment.ProcessId}) with TERM.");
        var child = _newMaster;
        child.EnableRaisingEvents = true;
        child.Exited += (_, _) =>
        {
            pidFile?.MoveBack();
            ErrorLog.Warning($"The new master (pid {child.Id}) exited with code {child.ExitCode}; this master (pid {Environment.ProcessId}) keeps serving.");
        };
    }
}
