using System.Net;
using System.Threading.RateLimiting;
using Gunicorn.Front.Forwarding;
using Gunicorn.Settings.Records;

namespace Gunicorn.Front.HttpFeatures;

/// <summary>
/// nginx's <c>limit_req</c> and <c>limit_conn</c> keyed on the client address, with System.Threading.RateLimiting's
/// partitioned limiters: a token bucket per address for the rate (<c>burst</c> tokens more with <c>nodelay</c>, or a
/// queue of <c>burst</c> requests served at the rate without it) and a concurrency limiter per address for requests
/// in progress. A refused request is answered here and never reaches a worker. Per-address limiters idle for 10 s are
/// dropped by the library, so a flood of distinct addresses costs memory for 10 s of them, not for ever. One instance
/// lives as long as its settings do, across reloads, so clients cannot reset their counters by waiting for one.
/// </summary>
public sealed class ClientLimits : IDisposable
{
    private readonly PartitionedRateLimiter<string>? _requests;
    private readonly PartitionedRateLimiter<string>? _inProgress;
    private long _refusedByRate, _refusedByConnections, _delayed;

    public ClientLimits(ClientLimitsConfig config)
    {
        Config = config;
        if (config.RequestsPerSecond is { } rate)
        {
            var options = TokenBucket(rate, config.Burst, config.NoDelay);
            _requests = PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetTokenBucketLimiter(key, _ => options));
        }
        if (config.Connections > 0)
        {
            var options = new ConcurrencyLimiterOptions { PermitLimit = config.Connections, QueueLimit = 0 };
            _inProgress = PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetConcurrencyLimiter(key, _ => options));
        }
    }

    public ClientLimitsConfig Config { get; }

    /// <summary>For <c>ctl status</c>: requests refused by the rate, by the in-progress limit, and delayed by the rate.</summary>
    public (long RefusedByRate, long RefusedByConnections, long Delayed) Counts =>
        (Interlocked.Read(ref _refusedByRate), Interlocked.Read(ref _refusedByConnections), Interlocked.Read(ref _delayed));

    /// <summary>
    /// nginx's leaky bucket as a token bucket: one token per 1/rate seconds. With nodelay the bucket holds 1 + burst
    /// tokens (a burst is served at once, then the rate); without, it holds one and up to burst requests wait in
    /// order for theirs (above 10r/s, one step's tokens take the place of the one). The partitioned limiter replenishes every 100 ms, so rates above 10r/s add tokens in steps.
    /// </summary>
    public static TokenBucketRateLimiterOptions TokenBucket(double perSecond, int burst, bool noDelay)
    {
        var (period, tokens) = perSecond <= 10
            ? (TimeSpan.FromSeconds(1 / perSecond), 1)
            : (TimeSpan.FromMilliseconds(100), Math.Max(1, (int)Math.Round(perSecond / 10)));
        return new TokenBucketRateLimiterOptions
        {
            // One replenishment step, plus the burst with nodelay: a bucket smaller than a step would cap the rate.
            TokenLimit = noDelay ? tokens + burst : tokens,
            TokensPerPeriod = tokens,
            ReplenishmentPeriod = period,
            QueueLimit = noDelay ? 0 : burst,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            // The partitioned limiter's own 100 ms timer replenishes every bucket: no timer per address.
            AutoReplenishment = false,
        };
    }

    public async Task InvokeAsync(HttpContext context, RequestDelegate next, TrustedPeers trusted, ErrorPages errors)
    {
        if (!Applies(context.Request.Path))
        {
            await next(context);
            return;
        }
        var key = ClientAddress(context, trusted);
        if (_requests is not null)
        {
            using var token = _requests.AttemptAcquire(key);
            if (!token.IsAcquired)
            {
                if (Config.NoDelay || Config.Burst == 0)
                {
                    await RefuseAsync(context, errors, Config.RequestStatus, ref _refusedByRate, "limit_req_rate");
                    return;
                }
                Interlocked.Increment(ref _delayed);
                using var queued = await _requests.AcquireAsync(key, 1, context.RequestAborted);
                if (!queued.IsAcquired)
                {
                    await RefuseAsync(context, errors, Config.RequestStatus, ref _refusedByRate, "limit_req_rate");
                    return;
                }
            }
        }
        if (_inProgress is null)
        {
            await next(context);
            return;
        }
        using var slot = _inProgress.AttemptAcquire(key);
        if (!slot.IsAcquired)
        {
            await RefuseAsync(context, errors, Config.ConnectionStatus, ref _refusedByConnections, "limit_conn");
            return;
        }
        await next(context);
    }

    /// <summary>The address limits count against: the PROXY protocol's or the peer's, or the last X-Forwarded-For
    /// entry when the peer is a trusted proxy (the address that proxy saw, which the client cannot forge).</summary>
    public static string ClientAddress(HttpContext context, TrustedPeers trusted)
    {
        var peer = context.Connection.RemoteIpAddress;
        if (trusted.Trusts(peer) && context.Request.Headers["X-Forwarded-For"].ToString() is { Length: > 0 } forwarded)
        {
            var last = forwarded[(forwarded.LastIndexOf(',') + 1)..].Trim();
            if (IPAddress.TryParse(last, out var client))
            {
                return client.ToString();
            }
        }
        return (peer?.IsIPv4MappedToIPv6 == true ? peer.MapToIPv4() : peer)?.ToString() ?? "unix";
    }

    private bool Applies(PathString path)
    {
        if (Config.Paths.Count == 0)
        {
            return true;
        }
        foreach (var prefix in Config.Paths)
        {
            if (path.StartsWithSegments(prefix))
            {
                return true;
            }
        }
        return false;
    }

    private static Task RefuseAsync(HttpContext context, ErrorPages errors, int status, ref long counter, string limit)
    {
        Interlocked.Increment(ref counter);
        return errors.WriteAsync(context, status, $"Too many requests from your address ({limit}). Slow down and retry.\n");
    }

    public void Dispose()
    {
        _requests?.Dispose();
        _inProgress?.Dispose();
    }
}
