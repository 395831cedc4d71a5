namespace Gunicorn.Tests.Infrastructure;

/// <summary>
/// Compares a generated text with the committed file. With UPDATE_GENERATED=1 (scripts/generate.sh) the file is
/// rewritten instead, so regenerating is one command and a stale file is one failing test.
/// </summary>
public static class Generated
{
    public static bool Updating => Environment.GetEnvironmentVariable("UPDATE_GENERATED") == "1";

    public static void AssertUpToDate(string path, string expected, string howToFix = "run ./scripts/generate.sh")
    {
        if (Updating)
        {
            File.WriteAllText(path, expected);
            return;
        }
        Assert.True(File.Exists(path), $"{path} is missing: {howToFix}.");
        var actual = File.ReadAllText(path);
        Assert.True(actual == expected, $"{path} is stale: {howToFix}.\n--- expected ---\n{expected}\n--- actual ---\n{actual}");
    }
}
