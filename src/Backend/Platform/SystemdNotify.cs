using System.Net.Sockets;
using System.Text;

namespace Gunicorn.Backend.Platform;

/// <summary>
/// sd_notify for <c>Type=notify</c> and <c>Type=notify-reload</c> services: READY=1 once the first workers are ready,
/// RELOADING=1 during a reload, STOPPING=1 on the way out, and MAINPID from a master started by USR2 (which systemd
/// accepts with <c>NotifyAccess=all</c>). Does nothing when NOTIFY_SOCKET is not set. The variable is kept for a
/// master USR2 starts, and never passed to workers.
/// </summary>
public static class SystemdNotify
{
    public const string SocketVariable = "NOTIFY_SOCKET";

    public static void Ready() => Send($"READY=1\nMAINPID={Environment.ProcessId}\nSTATUS=Serving");

    public static void Reloading() =>
        Send($"RELOADING=1\nMONOTONIC_USEC={System.Diagnostics.Stopwatch.GetTimestamp() * 1_000_000 / System.Diagnostics.Stopwatch.Frequency}\nSTATUS=Reloading");

    public static void Stopping() => Send("STOPPING=1\nSTATUS=Stopping");

    private static void Send(string state)
    {
        var path = Environment.GetEnvironmentVariable(SocketVariable);
        if (string.IsNullOrEmpty(path))
        {
            return;
        }
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            // A leading '@' names a socket in the abstract namespace (a NUL byte first), as sd_notify(3) says.
            var endpoint = new UnixDomainSocketEndPoint(path[0] == '@' ? "\0" + path[1..] : path);
            socket.SendTo(Encoding.UTF8.GetBytes(state), endpoint);
        }
        catch (SocketException e)
        {
            Gunicorn.Shared.Logging.ErrorLog.Warning($"sd_notify to {path} failed ({e.Message}); systemd may not see this state: {state.Split('\n')[0]}");
        }
    }
}
