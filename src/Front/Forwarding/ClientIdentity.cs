using Gunicorn.Settings.Records;

namespace Gunicorn.Front.Forwarding;

/// <summary>
/// What the front tells the worker about the client: the peer's address, whether its forwarding headers are
/// trusted, and the scheme (from secure_scheme_headers when trusted). Decided once per request, before forwarding.
/// </summary>
public sealed record ClientIdentity(string? PeerAddress, bool Trusted, string Scheme)
{
    /// <summary>Null when trusted secure-scheme headers disagree (gunicorn's InvalidSchemeHeaders: 400).</summary>
    public static ClientIdentity? Resolve(HttpContext context, TrustedPeers trusted, ProxyConfig proxy)
    {
        var peer = context.Connection.RemoteIpAddress;
        var isTrusted = trusted.Trusts(peer);
        var scheme = context.Request.Scheme;
        if (isTrusted)
        {
            var claimed = proxy.SecureSchemeHeaders
                .Where(h => context.Request.Headers.ContainsKey(h.Key))
                .Select(h => string.Equals(context.Request.Headers[h.Key].ToString(), h.Value, StringComparison.OrdinalIgnoreCase) ? "https" : "http")
                .Distinct()
                .ToList();
            if (claimed.Count > 1)
            {
                return null;
            }
            if (claimed.Count == 1)
            {
                scheme = claimed[0];
            }
        }
        var address = peer?.IsIPv4MappedToIPv6 == true ? peer.MapToIPv4() : peer;
        return new ClientIdentity(address?.ToString(), isTrusted, scheme);
    }
}
