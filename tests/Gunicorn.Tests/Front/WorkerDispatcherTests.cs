using Gunicorn.Backend.Arbiter;
using Gunicorn.Front.Forwarding;

namespace Gunicorn.Tests.Front;

/// <summary>Choosing workers: least busy first, a bounded queue, and retries kept away from the worker that failed.</summary>
public class WorkerDispatcherTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    /// <summary>One worker "a" of concurrency 1, already taken: the next request has to queue.</summary>
    private static async Task<(WorkerDispatcher Dispatcher, WorkerDispatcher.Slot Busy)> OneBusyWorker(int queueLimit)
    {
        var dispatcher = new WorkerDispatcher(queueLimit);
        dispatcher.Publish([new WorkerEndpoint("a", "/a.sock", 1)]);
        return (dispatcher, (await dispatcher.AcquireAsync(Wait, CancellationToken.None))!);
    }

    [Fact]
    public async Task AQueuedRetry_NeverGetsTheWorkerItsLastAttemptFailedOn_WhileAnotherExists()
    {
        var dispatcher = new WorkerDispatcher(queueLimit: 10);
        dispatcher.Publish([new WorkerEndpoint("a", "/a.sock", 1), new WorkerEndpoint("b", "/b.sock", 1)]);
        var first = (await dispatcher.AcquireAsync(Wait, CancellationToken.None))!;
        var second = (await dispatcher.AcquireAsync(Wait, CancellationToken.None))!;
        Assert.NotEqual(first.Key, second.Key);

        // The attempt on `first` failed (its worker may be dead but still routed): the retry waits for another.
        var retry = dispatcher.AcquireAsync(Wait, CancellationToken.None, avoid: first);
        dispatcher.Release(first);
        Assert.False(retry.IsCompleted);
        dispatcher.Release(second);
        Assert.Equal(second.Key, (await retry)!.Key);
    }

    [Fact]
    public async Task WithASingleWorker_ARetryTakesItAgain()
    {
        var dispatcher = new WorkerDispatcher(queueLimit: 10);
        dispatcher.Publish([new WorkerEndpoint("only", "/only.sock", 1)]);
        var slot = (await dispatcher.AcquireAsync(Wait, CancellationToken.None))!;
        dispatcher.Release(slot);
        Assert.Equal("only", (await dispatcher.AcquireAsync(Wait, CancellationToken.None, avoid: slot))!.Key);
    }

    [Fact]
    public async Task AFullQueue_RefusesAtOnce()
    {
        var (dispatcher, busy) = await OneBusyWorker(queueLimit: 1);
        var queued = dispatcher.AcquireAsync(Wait, CancellationToken.None);
        Assert.Null(await dispatcher.AcquireAsync(Wait, CancellationToken.None));
        dispatcher.Release(busy);
        Assert.Equal("a", (await queued)!.Key);
    }

    [Fact]
    public async Task AQueuedRequest_WhoseWaitRunsOut_GetsNoWorker_AndLeavesTheQueue()
    {
        var (dispatcher, busy) = await OneBusyWorker(queueLimit: 1);
        var queued = dispatcher.AcquireAsync(TimeSpan.FromMilliseconds(200), CancellationToken.None).AsTask();
        Assert.Equal(1, dispatcher.Queued);

        Assert.Null(await queued.WaitAsync(Wait));
        Assert.Equal(0, dispatcher.Queued);
        // Its place is free again: the next request may queue (the queue limit is 1).
        var next = dispatcher.AcquireAsync(Wait, CancellationToken.None);
        Assert.False(next.IsCompleted);
        dispatcher.Release(busy);
        Assert.Equal("a", (await next)!.Key);
    }

    [Fact]
    public async Task AQueuedRequest_WhoseClientWentAway_GetsNoWorker_AndTheSlotGoesToTheNext()
    {
        var (dispatcher, busy) = await OneBusyWorker(queueLimit: 10);
        using var client = new CancellationTokenSource();
        var abandoned = dispatcher.AcquireAsync(Wait, client.Token).AsTask();
        var patient = dispatcher.AcquireAsync(Wait, CancellationToken.None).AsTask();

        client.Cancel();
        Assert.Null(await abandoned.WaitAsync(Wait)); // the sweep ended it: no slot was freed
        dispatcher.Release(busy);
        Assert.Equal("a", (await patient.WaitAsync(Wait))!.Key);
    }

    [Fact]
    public async Task AFreedSlot_SkipsAWaiterWhoseClientLeft_EvenBeforeTheSweep()
    {
        var (dispatcher, busy) = await OneBusyWorker(queueLimit: 10);
        using var client = new CancellationTokenSource();
        var abandoned = dispatcher.AcquireAsync(Wait, client.Token).AsTask();
        var patient = dispatcher.AcquireAsync(Wait, CancellationToken.None).AsTask();

        client.Cancel();
        dispatcher.Release(busy); // at once: the sweep has not run yet
        Assert.Null(await abandoned.WaitAsync(Wait));
        Assert.Equal("a", (await patient.WaitAsync(Wait))!.Key);
    }

    [Fact]
    public async Task AFullQueue_DropsWaitersWhoseClientLeft_BeforeRefusing()
    {
        var (dispatcher, busy) = await OneBusyWorker(queueLimit: 1);
        using var client = new CancellationTokenSource();
        var abandoned = dispatcher.AcquireAsync(Wait, client.Token).AsTask();

        client.Cancel();
        var next = dispatcher.AcquireAsync(Wait, CancellationToken.None).AsTask(); // at once: before any sweep
        Assert.Null(await abandoned.WaitAsync(Wait));
        Assert.False(next.IsCompleted);
        Assert.Equal(1, dispatcher.Queued);
        dispatcher.Release(busy);
        Assert.Equal("a", (await next.WaitAsync(Wait))!.Key);
    }

    [Fact]
    public async Task ARequestWhoseClientIsAlreadyGone_IsNeverQueued()
    {
        var (dispatcher, _) = await OneBusyWorker(queueLimit: 10);
        using var client = new CancellationTokenSource();
        client.Cancel();
        var gone = dispatcher.AcquireAsync(Wait, client.Token);
        Assert.True(gone.IsCompleted);
        Assert.Null(await gone);
        Assert.Equal(0, dispatcher.Queued);
    }
}
