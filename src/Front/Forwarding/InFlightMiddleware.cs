using Yarp.ReverseProxy.Model;

namespace Gunicorn.Front.Forwarding;

/// <summary>
/// Runs in YARP's pipeline after load balancing: records which worker serves each request, and turns the error of a
/// worker killed for exceeding <c>timeout</c> into 504 Gateway Timeout, as nginx answered when gunicorn killed one.
/// </summary>
public static class InFlightMiddleware
{
    public static async Task InvokeAsync(HttpContext context, Func<Task> next, InFlightRequests inFlight)
    {
        var destination = context.GetReverseProxyFeature().AvailableDestinations is [var only] ? only.DestinationId : null;
        if (destination is null)
        {
            await next();
            return;
        }
        var entry = inFlight.Add(destination, context.Request.Method, context.Request.Path.Value ?? "/");
        try
        {
            await next();
        }
        finally
        {
            inFlight.Remove(destination, entry);
        }
        if (entry.TimedOut && !context.Response.HasStarted)
        {
            context.Response.Clear();
            context.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
        }
    }
}
