using System.Diagnostics;

namespace Gunicorn.Front.AccessLog;

/// <summary>First in the front's pipeline: times each request, counts the body bytes sent, logs when it is done.</summary>
public sealed class AccessLogMiddleware(RequestDelegate next, AccessLogFormatter formatter, AccessLogWriter writer)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var started = DateTimeOffset.Now;
        var timestamp = Stopwatch.GetTimestamp();
        // With metrics on, the response body is counted already (MetricsMiddleware runs first): one wrapper, not two.
        var counting = context.Features.Get<Metrics.ByteCounter.Writing>();
        var original = counting is null ? context.Response.Body : null;
        if (original is not null)
        {
            counting = Metrics.ByteCounter.CountedBody.Install(context);
        }
        try
        {
            await next(context);
        }
        finally
        {
            if (original is not null)
            {
                context.Response.Body = original;
            }
            await writer.WriteAsync(formatter.Format(new AccessLogEntry(context, started, timestamp, counting!.Count)));
        }
    }
}
