namespace Gunicorn.Front.Hosting;

/// <summary>
/// The web hosts of the master (a front generation, the metrics listener) read nothing of their surroundings: no
/// appsettings.json from the working directory, no ASPNETCORE_/DOTNET_ variables, no command line. The default
/// builders did: an ASP.NET Core app's appsettings.json in the directory gunicorn-net was started from made the front
/// bind the app's Kestrel endpoints too, and its file watcher put an inotify watch on every directory below the
/// working directory (9,588 from /tmp here), woken by every file written there, logs included. The front is
/// configured by gunicorn-net's settings alone.
/// </summary>
public static class FrontHostBuilder
{
    public static WebApplicationBuilder Create()
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().UseKestrelHttpsConfiguration(); // TLS listeners (ListenOptions.UseHttps)
        builder.Services.AddSingleton<IHostLifetime, NoSignalLifetime>();
        return builder;
    }
}
