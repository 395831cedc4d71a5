using System.Net;
using Gunicorn.Backend.Arbiter;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace Gunicorn.Front.Forwarding;

/// <summary>Turns the arbiter's ready workers into YARP's one catch-all route and one cluster, swapped atomically.</summary>
public sealed class WorkerRoutes(InMemoryConfigProvider provider, UnixSocketClientFactory sockets, InFlightRequests inFlight)
{
    public const string ClusterId = "workers";

    public static readonly RouteConfig CatchAllRoute = new()
    {
        RouteId = "app",
        ClusterId = ClusterId,
        Match = new RouteMatch { Path = "/{**catch-all}" },
        // Keep the client's Host, as nginx's `proxy_set_header Host $host` did in front of gunicorn.
        Transforms = [new Dictionary<string, string> { ["RequestHeaderOriginalHost"] = "true" }],
    };

    public static ClusterConfig Cluster(IEnumerable<WorkerEndpoint> workers) => new()
    {
        ClusterId = ClusterId,
        LoadBalancingPolicy = LeastBusyPolicy.PolicyName,
        HttpRequest = new ForwarderRequestConfig
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        },
        Destinations = workers.ToDictionary(w => w.Key, w => new DestinationConfig { Address = $"http://{w.Key}/" }),
    };

    public void Publish(IReadOnlyList<WorkerEndpoint> ready)
    {
        // Sockets first: a destination must never be routable before its host name can be connected.
        sockets.SetSockets(ready.Select(w => KeyValuePair.Create(w.Key, w.SocketPath)));
        provider.Update([CatchAllRoute], [Cluster(ready)]);
        inFlight.Prune(ready.Select(w => w.Key).ToHashSet());
    }
}
