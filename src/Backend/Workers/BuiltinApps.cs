using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gunicorn.Backend.Workers;

/// <summary>
/// Apps compiled into the worker, named with '@' (never a valid Python module): <c>@hello</c>, the default, answers
/// every request with a greeting; <c>@echo</c> is a diagnostic app (echo, sleep, pid) for trying a deployment and
/// for the integration tests: <c>/pid</c>, <c>/env?name=</c>, <c>/bytes?count=</c>, <c>/print?text=</c> (to stdout), <c>/sleep?seconds=</c>,
/// and anything else echoed back as JSON. Not for production traffic.
/// </summary>
public static class BuiltinApps
{
    public const string Hello = "@hello";
    public const string Echo = "@echo";

    public static bool IsBuiltin(string app) => app.StartsWith('@');

    /// <summary>Maps the app's endpoints; false when no built-in app has that name.</summary>
    public static bool TryMap(WebApplication app, string name)
    {
        switch (name)
        {
            case Hello:
                app.Run(context => context.Response.WriteAsync(
                    $"Hello from gunicorn-net (worker pid {Environment.ProcessId})\n"));
                return true;
            case Echo:
                app.MapGet("/pid", () => Environment.ProcessId.ToString());
                app.MapGet("/env", (string name) => Environment.GetEnvironmentVariable(name) ?? "");
                app.MapGet("/bytes", (int count) => Results.Bytes(new byte[count], "application/octet-stream"));
                app.MapGet("/print", (string text) =>
                {
                    Console.Out.WriteLine(text);
                    Console.Out.Flush();
                    return "printed\n";
                });
                app.MapMethods("/sleep", ["GET", "POST"], async (double seconds, CancellationToken aborted) =>
                {
                    Logging.ErrorLog.Debug($"Sleeping {seconds} s");
                    await Task.Delay(TimeSpan.FromSeconds(seconds), aborted);
                    return $"slept {seconds}s in {Environment.ProcessId}\n";
                });
                app.MapFallback(EchoAsync);
                return true;
            default:
                return false;
        }
    }

    private static async Task EchoAsync(HttpContext context)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, context.RequestAborted);
        var request = context.Request;
        var echo = new
        {
            pid = Environment.ProcessId,
            method = request.Method,
            path = request.Path.Value,
            rawTarget = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget,
            query = request.QueryString.Value,
            headers = request.Headers.SelectMany(h => h.Value.Select(v => new[] { h.Key, v ?? "" })).ToArray(),
            body = Convert.ToBase64String(body.ToArray()),
        };
        var payload = JsonSerializer.SerializeToUtf8Bytes(echo);
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = payload.Length;
        await context.Response.Body.WriteAsync(payload, context.RequestAborted);
    }
}
