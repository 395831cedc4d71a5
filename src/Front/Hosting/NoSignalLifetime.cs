using Microsoft.Extensions.Hosting;

namespace Gunicorn.Front.Hosting;

/// <summary>
/// Replaces the generic host's console lifetime, which would stop the app on INT, QUIT and TERM on its own: in
/// gunicorn-net every signal means what gunicorn says it means, and our handlers decide.
/// </summary>
public sealed class NoSignalLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
