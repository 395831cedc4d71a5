using System.Diagnostics;
using Gunicorn.Settings.Types;

namespace Gunicorn.Front.Metrics;

/// <summary>
/// First in a front generation's pipeline when <c>metrics_bind</c> is set: times each request, counts its body bytes
/// both ways and tells <see cref="PrometheusMetrics"/> how it ended and where it went (app, static or the front
/// itself: health checks, redirects, refusals).
/// </summary>
public sealed class MetricsMiddleware(PrometheusMetrics metrics, IReadOnlyList<StaticMapping> staticMappings)
{
    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var started = Stopwatch.GetTimestamp();
        var underStatic = IsUnderStatic(context.Request.Path);
        var mark = new PrometheusMetrics.RequestMark();
        context.Features.Set(mark);
        metrics.Started();
        var request = context.Request.Body;
        var response = context.Response.Body;
        var reading = new ByteCounter.Reading(request);
        context.Request.Body = reading;
        var writing = ByteCounter.CountedBody.Install(context);
        context.Features.Set(writing); // the access log reads this count instead of wrapping the body a second time
        var webSocketClosed = Gunicorn.Front.Forwarding.WebSocketRequests.IsWebSocket(context) ? metrics.WebSocketOpened() : null;
        try
        {
            await next(context);
        }
        finally
        {
            webSocketClosed?.Invoke();
            context.Request.Body = request;
            context.Response.Body = response;
            metrics.Completed(context.Request.Method, context.Response.StatusCode, mark.Forwarded ? "app" : underStatic ? "static" : "front",
                Stopwatch.GetElapsedTime(started), reading.Count, writing.Count, mark);
        }
    }

    /// <summary>Requests the static handler answers (the path as it arrived: the handler's branch rewrites it).</summary>
    private bool IsUnderStatic(PathString path)
    {
        foreach (var mapping in staticMappings)
        {
            if (path.StartsWithSegments(mapping.UrlPrefix.TrimEnd('/')))
            {
                return true;
            }
        }
        return false;
    }
}
