using System.Diagnostics;
using System.Reflection;
using Gunicorn.Backend.Platform;
using Gunicorn.Shared.Platform;

namespace Gunicorn.Front.Hosting;

/// <summary>
/// gunicorn's daemon mode without fork (a .NET process cannot fork): the command re-executes itself with the same
/// arguments and exits; the copy starts a new session, leaves the terminal (stdio to /dev/null) and runs the master.
/// </summary>
public static class Daemon
{
    private const string ChildVariable = "GUNICORN_NET_DAEMON_CHILD";

    public static bool IsDetachedCopy => Environment.GetEnvironmentVariable(ChildVariable) == "1";

    /// <summary>Starts the detached copy and returns its pid.</summary>
    /// <param name="inheritStdio">enable_stdio_inheritance: the copy writes to our stdout and stderr.</param>
    public static int Detach(string[] args, bool inheritStdio)
    {
        var path = Environment.ProcessPath!;
        // Fresh pipes for stdio, closed when we exit: the copy must hold no descriptor of our caller's terminal or
        // pipes (the runtime keeps private duplicates of fds 0-2, which a later dup2 in the copy would not replace).
        var start = new ProcessStartInfo(path)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = !inheritStdio,
            RedirectStandardError = !inheritStdio,
        };
        if (Path.GetFileNameWithoutExtension(path) == "dotnet")
        {
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "gunicorn-net.dll"));
        }
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        start.Environment[ChildVariable] = "1";
        Gunicorn.Backend.Platform.FrontSocketEngine.RemoveFrom(start); // the new master decides for itself
        using var child = Process.Start(start)!;
        return child.Id;
    }

    /// <summary>In the copy: a session of its own, no terminal.</summary>
    public static void EnterOwnSession(bool inheritStdio)
    {
        Environment.SetEnvironmentVariable(ChildVariable, null);
        Posix.SetSid();
        Posix.RedirectOutput("/dev/null", includeStdin: true, includeOutput: !inheritStdio);
    }
}
