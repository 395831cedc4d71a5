namespace Gunicorn.Tests.Infrastructure;

/// <summary>Paths of the source tree, found from the test assembly's location.</summary>
public static class RepoPaths
{
    public static readonly string Root = FindRoot();

    public static string Combine(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gunicorn.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"Gunicorn.sln not found above {AppContext.BaseDirectory}.");
    }
}
