using System.Net;

namespace Gunicorn.Front.Forwarding;

/// <summary>forwarded_allow_ips (and proxy_allow_ips): addresses and networks whose forwarding headers are believed.</summary>
public sealed class TrustedPeers
{
    private readonly bool _everyone;
    private readonly IPNetwork[] _networks;

    public TrustedPeers(IEnumerable<string> entries)
    {
        var list = entries.ToList();
        _everyone = list.Contains("*");
        _networks = list.Where(e => e != "*")
            .Select(e => IPNetwork.TryParse(e, out var network) ? network : new IPNetwork(IPAddress.Parse(e), IPAddress.Parse(e).AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128))
            .ToArray();
    }

    /// <summary>A peer on a Unix socket listener has no address: it is a local process, and trusted as gunicorn does.</summary>
    public bool Trusts(IPAddress? peer)
    {
        if (_everyone || peer is null)
        {
            return true;
        }
        if (peer.IsIPv4MappedToIPv6)
        {
            peer = peer.MapToIPv4();
        }
        // A loop, not a query: asked for every request (a closure per call otherwise).
        foreach (var network in _networks)
        {
            if (network.Contains(peer))
            {
                return true;
            }
        }
        return false;
    }
}
