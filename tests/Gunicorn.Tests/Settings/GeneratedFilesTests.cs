using Gunicorn.Settings.Output;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Settings;

public class GeneratedFilesTests
{
    [Fact]
    public void SettingsDoc_IsUpToDate() =>
        Generated.AssertUpToDate(RepoPaths.Combine("docs", "settings.md"), SettingsDocWriter.Write());

    [Fact]
    public void JsonSchema_IsUpToDate() =>
        Generated.AssertUpToDate(RepoPaths.Combine("config", "gunicorn.schema.json"), JsonSchemaWriter.Write());

    [Fact]
    public void SettingsDoc_CoversEverySetting()
    {
        var doc = SettingsDocWriter.Write();
        foreach (var setting in Gunicorn.Settings.Registry.SettingsRegistry.All)
        {
            Assert.Contains($"### `{setting.Key}`", doc);
        }
    }
}
