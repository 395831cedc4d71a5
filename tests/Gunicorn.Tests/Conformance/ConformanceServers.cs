using System.Collections.Concurrent;
using System.Text.Json;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Conformance;

/// <summary>One real gunicorn-net (with the @echo app) per distinct set of case settings, shared by the suite.</summary>
public sealed class ConformanceServers : IAsyncLifetime
{
    private readonly ConcurrentDictionary<string, Lazy<Task<GunicornServer>>> _servers = new();

    public Task<GunicornServer> ForAsync(IReadOnlyDictionary<string, JsonElement> settings)
    {
        var yaml = string.Concat(settings.OrderBy(s => s.Key).Select(s => $"{s.Key}: {Yaml(s.Value)}\n"));
        return _servers.GetOrAdd(yaml, _ => new Lazy<Task<GunicornServer>>(() => StartAsync(yaml))).Value;
    }

    private static async Task<GunicornServer> StartAsync(string yaml)
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-conformance-").FullName;
        File.WriteAllText(Path.Combine(dir, "gunicorn.yaml"), yaml);
        return await GunicornServer.StartAsync(["-w", "1", "@echo"], dir);
    }

    private static string Yaml(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Number => value.GetRawText(),
        _ => JsonSerializer.Serialize(value.GetString()),
    };

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var server in _servers.Values.Where(s => s.IsValueCreated))
        {
            await (await server.Value).DisposeAsync();
        }
    }
}
