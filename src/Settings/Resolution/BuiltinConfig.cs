namespace Gunicorn.Settings;

/// <summary>The default configuration compiled into the binary (config/gunicorn.yaml of the source tree).</summary>
public static class BuiltinConfig
{
    public const string DisplayName = "<built-in>/gunicorn.yaml";

    public static string Text()
    {
        using var stream = typeof(BuiltinConfig).Assembly.GetManifestResourceStream("gunicorn.yaml")
            ?? throw new InvalidOperationException("The built-in gunicorn.yaml resource is missing from the build.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>
    /// Relative paths in the built-in config resolve as if it were config/gunicorn.yaml beside the binary, the layout
    /// of the source tree (the build copies samples/ next to the binary).
    /// </summary>
    public static string BaseDirectory => Path.Combine(AppContext.BaseDirectory, "config");
}
