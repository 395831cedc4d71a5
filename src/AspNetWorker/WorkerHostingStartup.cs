using System.IO.Pipes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

[assembly: HostingStartup(typeof(Gunicorn.AspNetWorker.WorkerHostingStartup))]

namespace Gunicorn.AspNetWorker;

/// <summary>
/// The worker contract for an unmodified ASP.NET Core app: listen on the worker's Unix socket (the master names it
/// in GUNICORN_NET_WORKER_SOCKET) through <see cref="FrontSocketTransport"/>, write "ready" to the master's pipe once started, heartbeat with the request count, and ask for
/// recycling at max_requests. TERM is the host's own graceful stop. Kept free of gunicorn-net's other assemblies:
/// it is loaded into the app's process.
/// </summary>
public sealed class WorkerHostingStartup : IHostingStartup
{
    public void Configure(IWebHostBuilder builder)
    {
        var pipeHandle = Environment.GetEnvironmentVariable("GUNICORN_NET_WORKER_PIPE");
        if (pipeHandle is null)
        {
            return;
        }
        Environment.SetEnvironmentVariable("GUNICORN_NET_WORKER_PIPE", null);
        var maxRequests = long.TryParse(Environment.GetEnvironmentVariable("GUNICORN_NET_MAX_REQUESTS"), out var max) ? max : 0;
        var interval = double.TryParse(Environment.GetEnvironmentVariable("GUNICORN_NET_HEARTBEAT_SECONDS"),
            System.Globalization.CultureInfo.InvariantCulture, out var seconds) ? seconds : 1;
        var socketPath = Environment.GetEnvironmentVariable("GUNICORN_NET_WORKER_SOCKET");
        var connectionThreads = Environment.GetEnvironmentVariable("GUNICORN_NET_CONNECTION_THREADS") == "1";
        var sendTimeout = TimeSpan.FromSeconds(int.TryParse(Environment.GetEnvironmentVariable("GUNICORN_NET_TIMEOUT_SECONDS"), out var timeout) ? timeout : 0);
        Environment.SetEnvironmentVariable("GUNICORN_NET_WORKER_SOCKET", null);
        Environment.SetEnvironmentVariable("GUNICORN_NET_CONNECTION_THREADS", null);
        Environment.SetEnvironmentVariable("GUNICORN_NET_TIMEOUT_SECONDS", null);
        var pipe = new MasterPipe(pipeHandle, maxRequests);
        var hooks = WorkerHooks.FromEnvironment();
        hooks?.ListenToSignals();
        builder.ConfigureServices(services =>
        {
            services.AddSingleton(pipe);
            if (socketPath is not null)
            {
                ListenWhereTheFrontConnects(services, socketPath, connectionThreads, sendTimeout);
            }
            services.AddSingleton<IStartupFilter>(new CountingStartupFilter(pipe));
            services.AddHostedService(provider => new ReadyReporter(pipe, provider.GetRequiredService<IHostApplicationLifetime>(), TimeSpan.FromSeconds(interval), hooks));
        });
    }

    /// <summary>
    /// The worker listens on its socket: through <see cref="FrontSocketTransport"/> (sync, gthread) or Kestrel's own
    /// (async). The app's endpoints from configuration (Kestrel:Endpoints in its appsettings.json) are for running it
    /// alone: bound by every worker they would fight for one port, and Kestrel would skip the worker's socket for them.
    /// </summary>
    private static void ListenWhereTheFrontConnects(IServiceCollection services, string socketPath, bool connectionThreads, TimeSpan sendTimeout)
    {
        if (connectionThreads)
        {
            // Kestrel's socket transport first, for endpoints the app's code listens on itself (Kestrel asks the
            // transport registered last first, and adds its own only when none is registered).
            services.AddSingleton<IConnectionListenerFactory, SocketTransportFactory>();
            services.AddSingleton<IConnectionListenerFactory, FrontSocketTransport>();
            services.Configure<KestrelServerOptions>(kestrel => kestrel.Listen(new FrontSocketEndPoint(socketPath, sendTimeout)));
        }
        else
        {
            services.Configure<KestrelServerOptions>(kestrel => kestrel.ListenUnixSocket(socketPath));
        }
        services.PostConfigure<KestrelServerOptions>(kestrel =>
        {
            var configured = kestrel.ConfigurationLoader?.Configuration.GetSection("Endpoints").GetChildren().Select(e => e.Key).ToList();
            if (configured is { Count: > 0 })
            {
                Console.Error.WriteLine($"[gunicorn-net] The app's Kestrel endpoints from configuration ({string.Join(", ", configured)}) " +
                                        "are not bound: a worker listens only where the front connects.");
            }
            kestrel.Configure(new ConfigurationBuilder().Build());
        });
    }

    private sealed class CountingStartupFilter(MasterPipe pipe) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (context, nextMiddleware) =>
            {
                try
                {
                    FrontPeer.Take(context);
                    await nextMiddleware(context);
                }
                finally
                {
                    pipe.CountRequest();
                }
            });
            next(app);
        };
    }

    private sealed class ReadyReporter(MasterPipe pipe, IHostApplicationLifetime lifetime, TimeSpan interval, WorkerHooks? hooks) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            lifetime.ApplicationStarted.Register(() =>
            {
                pipe.ReportReady(interval, lifetime.StopApplication);
                hooks?.Run("post_worker_init");
            });
            lifetime.ApplicationStopped.Register(() => hooks?.Run("worker_exit"));
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

/// <summary>The same pipe protocol as gunicorn-net's own workers (Contract/WorkerContract.cs): ready, hb N, recycle.</summary>
public sealed class MasterPipe(string handle, long maxRequests)
{
    private readonly AnonymousPipeClientStream _pipe = new(PipeDirection.Out, handle);
    private readonly Lock _gate = new();
    private long _served;
    private Timer? _heartbeat;
    private Action? _onMasterGone;

    public void ReportReady(TimeSpan interval, Action onMasterGone)
    {
        _onMasterGone = onMasterGone;
        Send("ready");
        _heartbeat = new Timer(_ => Send("hb " + Interlocked.Read(ref _served)), null, interval, interval);
    }

    public void CountRequest()
    {
        if (Interlocked.Increment(ref _served) == maxRequests)
        {
            Send("recycle");
        }
    }

    private void Send(string line)
    {
        try
        {
            lock (_gate)
            {
                _pipe.Write(System.Text.Encoding.ASCII.GetBytes(line + "\n"));
                _pipe.Flush();
            }
        }
        catch (IOException)
        {
            _heartbeat?.Dispose();
            _onMasterGone?.Invoke();
        }
    }
}
