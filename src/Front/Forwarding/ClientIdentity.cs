namespace Gunicorn.Front.Forwarding;

/// <summary>
/// What the front tells the worker about the client: the peer's address, whether its forwarding headers are
/// trusted, and the scheme (from secure_scheme_headers when trusted). Decided once per request, before forwarding.
/// </summary>
public sealed record ClientIdentity(string? PeerAddress, bool Trusted, string Scheme)
{
    /// <summary>
    /// Null when trusted secure-scheme headers disagree (gunicorn's InvalidSchemeHeaders: 400).
    /// <paramref name="secureSchemeHeaders"/> is secure_scheme_headers as an array, made once: walked through the
    /// dictionary's interface, every request would box its enumerator.
    /// </summary>
    public static ClientIdentity? Resolve(HttpContext context, TrustedPeers trusted, KeyValuePair<string, string>[] secureSchemeHeaders)
    {
        var peer = context.Connection.RemoteIpAddress;
        var isTrusted = trusted.Trusts(peer);
        var scheme = context.Request.Scheme;
        if (isTrusted)
        {
            // A loop rather than a query: this runs for every request from a trusted peer (loopback by default).
            string? claimed = null;
            foreach (var (name, secureValue) in secureSchemeHeaders)
            {
                if (!context.Request.Headers.TryGetValue(name, out var sent))
                {
                    continue;
                }
                var claim = string.Equals(sent.ToString(), secureValue, StringComparison.OrdinalIgnoreCase) ? "https" : "http";
                if (claimed is not null && claimed != claim)
                {
                    return null;
                }
                claimed = claim;
            }
            scheme = claimed ?? scheme;
        }
        var address = peer?.IsIPv4MappedToIPv6 == true ? peer.MapToIPv4() : peer;
        return new ClientIdentity(address?.ToString(), isTrusted, scheme);
    }
}
