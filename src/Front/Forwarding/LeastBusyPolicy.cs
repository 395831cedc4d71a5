using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace Gunicorn.Front.Forwarding;

/// <summary>
/// The worker with the fewest requests in flight; ties go round-robin. YARP's LeastRequests always takes the first
/// of equals, which sends all sequential traffic to one worker and leaves the others (and their max_requests) idle.
/// </summary>
public sealed class LeastBusyPolicy : ILoadBalancingPolicy
{
    public const string PolicyName = "LeastBusy";

    private uint _turn;

    public string Name => PolicyName;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        var count = availableDestinations.Count;
        if (count == 0)
        {
            return null;
        }
        var start = (int)(Interlocked.Increment(ref _turn) % (uint)count);
        DestinationState? best = null;
        for (var i = 0; i < count; i++)
        {
            var candidate = availableDestinations[(start + i) % count];
            if (best is null || candidate.ConcurrentRequestCount < best.ConcurrentRequestCount)
            {
                best = candidate;
            }
        }
        return best;
    }
}
