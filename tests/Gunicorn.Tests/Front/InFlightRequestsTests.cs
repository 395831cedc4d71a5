using Gunicorn.Front.Forwarding;

namespace Gunicorn.Tests.Front;

/// <summary>Requests in flight per worker (504s, draining, ctl status): added and removed in any order, once.</summary>
public class InFlightRequestsTests
{
    [Fact]
    public void Entries_LeaveInAnyOrder_AndARemoveTwiceCountsOnce()
    {
        var inFlight = new InFlightRequests();
        var first = inFlight.Add("w1", "GET", "/first");
        var middle = inFlight.Add("w1", "POST", "/middle", webSocket: true);
        var last = inFlight.Add("w1", "GET", "/last");
        var other = inFlight.Add("w2", "GET", "/other");
        Assert.Equal(3, inFlight.Count("w1"));
        Assert.Equal(1, inFlight.CountWebSockets("w1"));

        InFlightRequests.Remove(middle);
        InFlightRequests.Remove(middle);
        Assert.Equal(2, inFlight.Count("w1"));
        Assert.Equal(0, inFlight.CountWebSockets("w1"));
        Assert.StartsWith("GET /first", inFlight.DescribeOldest("w1"));

        InFlightRequests.Remove(first);
        Assert.StartsWith("GET /last", inFlight.DescribeOldest("w1"));
        InFlightRequests.Remove(last);
        Assert.Equal(0, inFlight.Count("w1"));
        Assert.Null(inFlight.DescribeOldest("w1"));
        Assert.Equal(1, inFlight.Count("w2"));
        Assert.StartsWith("GET /other", inFlight.DescribeOldest("w2"));
    }

    [Fact]
    public void MarkTimedOut_ReachesEveryRequestOfThatWorker_AndNoOther()
    {
        var inFlight = new InFlightRequests();
        var a = inFlight.Add("w1", "GET", "/a");
        var b = inFlight.Add("w1", "GET", "/b");
        var c = inFlight.Add("w2", "GET", "/c");
        inFlight.MarkTimedOut("w1");
        Assert.True(a.TimedOut);
        Assert.True(b.TimedOut);
        Assert.False(c.TimedOut);
    }

    [Fact]
    public void Prune_ForgetsOnlyWorkersThatLeftWithNothingInFlight()
    {
        var inFlight = new InFlightRequests();
        var busy = inFlight.Add("gone-busy", "GET", "/slow");
        InFlightRequests.Remove(inFlight.Add("gone-idle", "GET", "/done"));
        inFlight.Add("live", "GET", "/x");

        inFlight.Prune(new HashSet<string> { "live" });
        Assert.Equal(1, inFlight.Count("gone-busy"));
        Assert.Equal(1, inFlight.Count("live"));

        // A request added after its worker's set was pruned is counted in a new set.
        inFlight.Add("gone-idle", "GET", "/late");
        Assert.Equal(1, inFlight.Count("gone-idle"));
        InFlightRequests.Remove(busy);
        Assert.Equal(0, inFlight.Count("gone-busy"));
    }
}
