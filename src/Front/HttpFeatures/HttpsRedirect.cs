using Microsoft.AspNetCore.Http.Features;

namespace Gunicorn.Front.HttpFeatures;

/// <summary>
/// nginx's <c>server { listen 80; return 301 https://$host$request_uri; }</c>: every request on an
/// <c>https_redirect_bind</c> listener is answered with a redirect to the same host and target over HTTPS. The health
/// path and ACME challenges (static files under <c>/.well-known/acme-challenge/</c>) are still served there.
/// </summary>
public sealed class HttpsRedirect(int status, int httpsPort, string? healthPath)
{
    /// <summary>Set on the connections of redirect listeners (a connection feature, seen by every request on them).</summary>
    public sealed class Listener
    {
        public static readonly Listener Instance = new();
    }

    private static readonly PathString AcmeChallenges = "/.well-known/acme-challenge";

    public Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (context.Features.Get<Listener>() is null
            || context.Request.Path.StartsWithSegments(AcmeChallenges)
            || (healthPath is not null && context.Request.Path.Equals(healthPath)))
        {
            return next(context);
        }
        var host = UrlHost(context.Request.Host.Host is { Length: > 0 } h ? h : context.Connection.LocalIpAddress?.ToString() ?? "localhost");
        var target = context.Features.Get<IHttpRequestFeature>()?.RawTarget is { Length: > 0 } raw && raw[0] == '/'
            ? raw
            : context.Request.PathBase + context.Request.Path + context.Request.QueryString;
        context.Response.StatusCode = status;
        context.Response.Headers.Location = "https://" + host + (httpsPort == 443 ? "" : ":" + httpsPort) + target;
        context.Response.Headers.Connection = "close";
        return Task.CompletedTask;
    }

    private static string UrlHost(string host) =>
        host.Contains(':') && !host.StartsWith('[') ? "[" + host + "]" : host; // a bare IPv6 address needs brackets in a URL
}
