using System.Runtime.InteropServices;
using System.Threading.Channels;
using Gunicorn.Backend.Platform;
using Gunicorn.Shared.Platform;

namespace Gunicorn.Backend.Arbiter;

/// <summary>Registers the master's signals. Handlers only enqueue (gunicorn: "NO LOGGING, just queue the signal").</summary>
public sealed class SignalQueue : IDisposable
{
    private static readonly int[] Handled =
    [
        1, Posix.SIGINT, Posix.SIGQUIT, Posix.SIGTERM, Posix.SIGTTIN, Posix.SIGTTOU, Posix.SIGUSR1, Posix.SIGUSR2, Posix.SIGWINCH,
    ];

    private readonly List<PosixSignalRegistration> _registrations = [];

    public SignalQueue(ChannelWriter<ArbiterEvent> events)
    {
        foreach (var signal in Handled)
        {
            _registrations.Add(PosixSignalRegistration.Create((PosixSignal)ToPosixSignal(signal), context =>
            {
                context.Cancel = true;
                events.TryWrite(new SignalReceived(signal));
            }));
        }
    }

    /// <summary>.NET names some signals with negative enum values; others pass as raw numbers.</summary>
    private static int ToPosixSignal(int signal) => signal switch
    {
        Posix.SIGHUP => (int)PosixSignal.SIGHUP,
        Posix.SIGINT => (int)PosixSignal.SIGINT,
        Posix.SIGQUIT => (int)PosixSignal.SIGQUIT,
        Posix.SIGTERM => (int)PosixSignal.SIGTERM,
        Posix.SIGTTIN => (int)PosixSignal.SIGTTIN,
        Posix.SIGTTOU => (int)PosixSignal.SIGTTOU,
        Posix.SIGWINCH => (int)PosixSignal.SIGWINCH,
        _ => signal,
    };

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }
    }
}
