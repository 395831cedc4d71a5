using System.Runtime.InteropServices;
using Gunicorn.Shared.Logging;
using Gunicorn.Shared.Platform;

namespace Gunicorn.Worker.Hosting;

/// <summary>
/// gunicorn's worker signals: TERM stops gracefully; INT and QUIT run worker_int and exit at once; ABRT (the
/// master's timeout) runs worker_abort and exits 1; USR1 reopens the error log.
/// </summary>
internal sealed class WorkerSignals : IDisposable
{
    private readonly List<PosixSignalRegistration> _registrations = [];

    /// <param name="beforeExit">Runs before a fast exit (the app's atexit handlers and buffered output, as sys.exit would).</param>
    public WorkerSignals(Action stopGracefully, WorkerHookRunner hooks, Action beforeExit)
    {
        On(PosixSignal.SIGTERM, stopGracefully);
        foreach (var fast in new[] { PosixSignal.SIGINT, PosixSignal.SIGQUIT })
        {
            On(fast, () =>
            {
                hooks.Run("worker_int", hooks.Hooks.WorkerInt);
                ExitNow(hooks, beforeExit, $"on {fast}");
            });
        }
        On((PosixSignal)Posix.SIGABRT, () =>
        {
            hooks.Run("worker_abort", hooks.Hooks.WorkerAbort);
            ExitNow(hooks, beforeExit, "on SIGABRT (the master's timeout)", exitCode: 1);
        });
        On((PosixSignal)Posix.SIGUSR1, ErrorLog.Reopen);
    }

    private static void ExitNow(WorkerHookRunner hooks, Action beforeExit, string why, int exitCode = 0)
    {
        ErrorLog.Info($"Worker exiting {why} (pid: {Environment.ProcessId})");
        hooks.Run("worker_exit", hooks.Hooks.WorkerExit);
        beforeExit();
        Environment.Exit(exitCode);
    }

    private void On(PosixSignal signal, Action action) =>
        _registrations.Add(PosixSignalRegistration.Create(signal, context =>
        {
            context.Cancel = true;
            action();
        }));

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }
    }
}
