using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Options;

namespace Gunicorn.Front.Hosting;

/// <summary>
/// Kestrel's socket transport with one more state: retired. A front generation that a reload replaced stops
/// accepting at once (its pending accepts are cancelled, so a connection waiting in the shared listening socket's
/// queue goes to the new generation), while the connections it already has finish their requests. Without this, the
/// old generation keeps taking half of the new connections until it stops, and stopping closes the ones whose first
/// request is still on its way: failed requests on every reload.
/// </summary>
public sealed class RetirableTransport(IOptions<SocketTransportOptions> options, ILoggerFactory loggers)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly SocketTransportFactory _sockets = new(options, loggers);
    private readonly CancellationTokenSource _retired = new();

    /// <summary>Stops every listener of this generation from accepting; connections already accepted are not touched.</summary>
    public void Retire() => _retired.Cancel();

    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        new Listener(await _sockets.BindAsync(endpoint, cancellationToken), _retired.Token);

    public bool CanBind(EndPoint endpoint) => _sockets.CanBind(endpoint);

    private sealed class Listener(IConnectionListener inner, CancellationToken retired) : IConnectionListener
    {
        public EndPoint EndPoint => inner.EndPoint;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, retired);
            try
            {
                return await inner.AcceptAsync(linked.Token);
            }
            catch (OperationCanceledException) when (retired.IsCancellationRequested)
            {
                return null; // Kestrel reads null as "this listener is done".
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default) => inner.UnbindAsync(cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
