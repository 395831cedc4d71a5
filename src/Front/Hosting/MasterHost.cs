using Gunicorn.Front.Listeners;
using Gunicorn.Settings.Records;

namespace Gunicorn.Front.Hosting;

/// <summary>The master process: the front tier and the arbiter in one process.</summary>
public static class MasterHost
{
    public static async Task<int> RunAsync(GunicornConfig config)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            foreach (var bind in config.Listeners.Bind)
            {
                ListenerBinder.Bind(kestrel, bind);
            }
        });
        var app = builder.Build();
        app.MapGet("/", () => "Hello from gunicorn-net\n");
        await app.StartAsync();
        Console.Error.WriteLine($"[gunicorn-net] [INFO] Listening at: {string.Join(", ", config.Listeners.Bind)} ({Environment.ProcessId})");
        await app.WaitForShutdownAsync();
        return 0;
    }
}
