using Gunicorn.Shared.Contract;
using Gunicorn.Settings.Records;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Forwarder;

namespace Gunicorn.Front.Forwarding;

/// <summary>
/// Header rules on the way to a worker and back, as nginx's proxy_set_header lines did: the client's Host is kept,
/// X-Forwarded-For/-Proto/-Host are the front's own (client-sent ones survive only from trusted peers), and the
/// worker's Server header does not leak.
/// </summary>
public sealed class FrontTransformer(ProxyConfig proxy) : HttpTransformer
{
    /// <summary>Characters a target keeps unchanged through decoding and the base's re-encoding (RFC 3986 pchar and '?').</summary>
    private static readonly System.Buffers.SearchValues<char> PlainTargetChars =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/");

    private static readonly string[] ForwardingHeaders =
        ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port", "X-Forwarded-Prefix", "Forwarded", "X-Real-IP"];

    /// <summary>Headers an untrusted client may not set: they would speak for the front (address, scheme, host).</summary>
    private readonly string[] _untrustedHeaders =
        [.. ForwardingHeaders.Concat(proxy.SecureSchemeHeaders.Keys).Concat(proxy.ForwarderHeaders).Distinct(StringComparer.OrdinalIgnoreCase)];

    private static void RemoveIfSent(HttpRequest request, System.Net.Http.Headers.HttpRequestHeaders headers, string name)
    {
        if (request.Headers.ContainsKey(name))
        {
            headers.Remove(name);
        }
    }

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest,
        string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
        // Forward the target as the client wrote it: re-encoding the decoded path would turn %2F into %252F. A target
        // of plain characters only (most) is what the base already built: no second URI for it.
        if (httpContext.Features.Get<IHttpRequestFeature>()?.RawTarget is ['/', ..] raw
            && raw.AsSpan().ContainsAnyExcept(PlainTargetChars)
            && Uri.TryCreate(destinationPrefix.TrimEnd('/') + raw, UriKind.Absolute, out var verbatim))
        {
            proxyRequest.RequestUri = verbatim;
        }
        var identity = httpContext.Features.Get<ClientIdentity>()!;
        var headers = proxyRequest.Headers;
        var request = httpContext.Request;
        var clientFor = identity.Trusted ? request.Headers["X-Forwarded-For"].ToString() : "";
        var clientHost = identity.Trusted ? request.Headers["X-Forwarded-Host"].ToString() : "";
        // The request's headers are the client's, copied by the base: only a header the client sent can need removing.
        // Asking the client's headers (Kestrel's, a field or an empty dictionary for these) first saves a parse of the
        // name per header on the copy, about ten per request.
        if (!identity.Trusted)
        {
            foreach (var name in _untrustedHeaders)
            {
                RemoveIfSent(request, headers, name);
            }
        }
        RemoveIfSent(request, headers, WorkerContract.PeerHeader);
        if (identity.PeerAddress is { } address)
        {
            headers.TryAddWithoutValidation(WorkerContract.PeerHeader, $"{address} {httpContext.Connection.RemotePort}");
        }
        RemoveIfSent(request, headers, "X-Forwarded-For");
        RemoveIfSent(request, headers, "X-Forwarded-Proto");
        RemoveIfSent(request, headers, "X-Forwarded-Host");
        if (identity.PeerAddress is { } peer)
        {
            headers.TryAddWithoutValidation("X-Forwarded-For", clientFor.Length > 0 ? $"{clientFor}, {peer}" : peer);
        }
        headers.TryAddWithoutValidation("X-Forwarded-Proto", identity.Scheme);
        // The Host line as the client sent it (Kestrel validated it): request.Host would parse and decode it again.
        var host = request.Headers.Host.ToString() is { Length: > 0 } sent ? sent : LocalAuthority(httpContext);
        headers.TryAddWithoutValidation("X-Forwarded-Host", clientHost.Length > 0 ? clientHost : host);
        // An HTTP/1.0 request may come without Host; the worker then sees the address the client connected to. Kestrel
        // has validated the client's Host, so it is set as it is (the Host property would parse it again, 2-3% of the
        // front's CPU per proxied request).
        headers.Remove("Host");
        headers.TryAddWithoutValidation("Host", host);
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse,
        CancellationToken cancellationToken)
    {
        // X-Accel-Redirect / X-Sendfile: the worker names a file the front serves from a static mapping.
        if (proxyResponse is not null && Static.InternalRedirects.From(proxyResponse) is { } redirect)
        {
            // Nothing of the worker's answer is copied: its body is discarded and the front serves the file.
            httpContext.Features.Set(redirect);
            return false;
        }
        var result = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);
        httpContext.Response.Headers.Remove("Server");
        // nginx's switch for streaming responses (server-sent events): consumed here, not passed to the client.
        if (httpContext.Response.Headers.Remove("X-Accel-Buffering", out var buffering)
            && string.Equals(buffering.ToString(), "no", StringComparison.OrdinalIgnoreCase)
            && httpContext.Features.Get<Buffering.BufferedResponseBody>() is { } buffered)
        {
            await buffered.StreamFromNowOnAsync(cancellationToken);
        }
        return result;
    }

    private static string LocalAuthority(HttpContext context) =>
        context.Connection.LocalIpAddress is { } local
            ? (local.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{local}]" : local.ToString()) + $":{context.Connection.LocalPort}"
            : "localhost";
}
