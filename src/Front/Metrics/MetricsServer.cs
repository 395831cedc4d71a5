using System.Net;
using System.Net.Sockets;
using Gunicorn.Front.Hosting;
using Gunicorn.Front.Listeners;
using Gunicorn.Settings.Types;
using Prometheus;

namespace Gunicorn.Front.Metrics;

/// <summary>
/// <c>metrics_bind</c>: a listener of its own that answers <c>GET /metrics</c> in the Prometheus text format and
/// nothing else, kept apart from <c>bind</c> so that the clients of the site cannot read it.
/// </summary>
public sealed class MetricsServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Socket _socket;
    private readonly DateTime _unixBoundAt;

    private MetricsServer(BindAddress bind, CollectorRegistry registry)
    {
        Bind = bind;
        _socket = bind.Kind == BindKind.Unix
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(AddressOf(bind.Host).AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (bind.Kind == BindKind.Unix)
            {
                _unixBoundAt = UnixSocketFile.BindAndListen(_socket, bind.Path, 16);
                Address = $"unix:{bind.Path}";
            }
            else
            {
                _socket.SetRawSocketOption(ListenerSet.SolSocket, ListenerSet.SoReuseAddr, BitConverter.GetBytes(1));
                _socket.Bind(new IPEndPoint(AddressOf(bind.Host), bind.Port));
                _socket.Listen(16);
                Address = "http://" + _socket.LocalEndPoint;
            }
        }
        catch
        {
            _socket.Dispose();
            throw;
        }

        var builder = Gunicorn.Front.Hosting.FrontHostBuilder.Create();
        builder.WebHost.ConfigureKestrel(kestrel =>
            kestrel.ListenHandle((ulong)Gunicorn.Shared.Platform.Posix.DupCloseOnExec((int)_socket.Handle)));
        _app = builder.Build();
        _app.Run(async context =>
        {
            if (context.Request.Path != "/metrics")
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                await context.Response.WriteAsync("Not found: metrics are at /metrics\n");
                return;
            }
            if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
            {
                context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
                return;
            }
            context.Response.ContentType = PrometheusConstants.ExporterContentTypeValue.ToString();
            await registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted);
        });
    }

    public BindAddress Bind { get; }

    private static IPAddress AddressOf(string host) =>
        IPAddress.TryParse(host, out var address) ? address : Dns.GetHostAddresses(host)[0];

    /// <summary>Where it listens, port 0 made real (for the log and tests).</summary>
    public string Address { get; }

    /// <summary>Opens <paramref name="bind"/> and starts answering.</summary>
    /// <exception cref="MetricsBindException">The address cannot be opened (in use, not permitted).</exception>
    public static async Task<MetricsServer> StartAsync(BindAddress bind, CollectorRegistry registry)
    {
        MetricsServer server;
        try
        {
            server = new MetricsServer(bind, registry);
        }
        catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException)
        {
            throw new MetricsBindException($"metrics_bind {bind} cannot be opened: {e.Message}. Free the address or change metrics_bind.", e);
        }
        await server._app.StartAsync();
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _socket.Dispose();
        if (Bind.Kind == BindKind.Unix)
        {
            UnixSocketFile.RemoveIfOurs(Bind.Path, _unixBoundAt);
        }
    }
}

/// <summary>metrics_bind could not be opened: the master does not start, or the reload fails and changes nothing.</summary>
public sealed class MetricsBindException(string message, Exception inner) : IOException(message, inner);
