using Gunicorn.Backend.Platform;
using Gunicorn.Shared.Platform;

namespace Gunicorn.Tests.Infrastructure;

public static class Signals
{
    public const int HUP = 1, INT = 2, QUIT = 3, KILL = 9, USR1 = 10, USR2 = 12, TERM = 15, CONT = 18, STOP = 19, TTIN = 21, TTOU = 22;

    public static void Send(int pid, int signal) => Assert.Equal(0, Posix.Kill(pid, signal));
}
