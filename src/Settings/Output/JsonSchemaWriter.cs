using System.Text.Json;
using System.Text.Json.Nodes;
using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Sections;

namespace Gunicorn.Settings.Output;

/// <summary>Writes config/gunicorn.schema.json so editors can complete and check gunicorn.yaml.</summary>
public static class JsonSchemaWriter
{
    public static string Write()
    {
        var properties = new JsonObject();
        foreach (var setting in SettingsRegistry.All.Where(s => s.Status.IsSupported && s != ConfigFileSettings.Config))
        {
            var schema = setting.Schema();
            schema["description"] = setting.Doc.ReplaceLineEndings(" ").Trim();
            properties[setting.Key] = schema;
        }
        var root = new JsonObject
        {
            ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
            ["title"] = "gunicorn-net configuration",
            ["description"] = "Generated from the settings registry (src/Settings/Sections); do not edit.",
            ["type"] = new JsonArray("object", "null"),
            ["additionalProperties"] = false,
            ["properties"] = properties,
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }
}
