using Gunicorn.Settings.Output;
using Gunicorn.Settings.Sources;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Settings;

/// <summary>
/// tests/golden/config/NAME.yaml (+ optional NAME.args, one line of command-line words) must give exactly
/// NAME.expected: the --print-config output when valid, the error report when not. "$GOLDEN" stands for the folder.
/// </summary>
public class GoldenConfigTests
{
    private static readonly string Folder = RepoPaths.Combine("tests", "golden", "config");

    public static TheoryData<string> Cases() => new(Directory.GetFiles(Folder, "*.yaml")
        .Select(Path.GetFileNameWithoutExtension)
        .Order()!);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Output_MatchesGolden(string name)
    {
        var argsFile = Path.Combine(Folder, name + ".args");
        var args = File.Exists(argsFile) ? ShellWords.Split(File.ReadAllText(argsFile).Trim()) : [];
        var resolution = Resolve.With(["-c", $"{name}.yaml", .. args], workingDirectory: Folder);
        var output = resolution.IsValid ? ConfigReport.PrintConfig(resolution) : ConfigReport.Errors(resolution);
        Generated.AssertUpToDate(Path.Combine(Folder, name + ".expected"), output.Replace(Folder, "$GOLDEN"),
            "if the new output is right, run UPDATE_GENERATED=1 ./test.sh --filter GoldenConfig and review the diff");
    }
}
