using Gunicorn.Front.Forwarding;

namespace Gunicorn.Front.HttpFeatures;

/// <summary>
/// Adds <c>Strict-Transport-Security</c> to responses the client received over HTTPS: TLS on this listener, or a
/// trusted proxy's secure-scheme header. Never over plain HTTP, where browsers must ignore it (RFC 6797 8.1).
/// </summary>
public sealed class StrictTransportSecurity(string headerValue)
{
    public Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (context.Features.Get<ClientIdentity>() is { Scheme: "https" })
        {
            context.Response.Headers.StrictTransportSecurity = headerValue;
        }
        return next(context);
    }
}
