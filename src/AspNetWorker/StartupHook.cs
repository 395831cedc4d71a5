using System.Reflection;
using System.Runtime.Loader;

/// <summary>
/// .NET startup hook (DOTNET_STARTUP_HOOKS), run before the app's own Main: makes this assembly resolvable by name
/// and names it as a hosting startup assembly, so the app's host picks up <see cref="Gunicorn.AspNetWorker.WorkerHostingStartup"/>.
/// Must be a top-level internal class named StartupHook with a static Initialize method.
/// </summary>
internal class StartupHook
{
    public static void Initialize()
    {
        var self = typeof(StartupHook).Assembly;
        AssemblyLoadContext.Default.Resolving += (_, name) => name.Name == self.GetName().Name ? self : null;
        var existing = Environment.GetEnvironmentVariable("ASPNETCORE_HOSTINGSTARTUPASSEMBLIES");
        var mine = self.GetName().Name!;
        Environment.SetEnvironmentVariable("ASPNETCORE_HOSTINGSTARTUPASSEMBLIES",
            string.IsNullOrEmpty(existing) ? mine : $"{existing};{mine}");
    }
}
