using System.Diagnostics;
using System.Net;
using Gunicorn.Front.Buffering;
using Gunicorn.Front.HttpFeatures;
using Gunicorn.Front.Metrics;
using Gunicorn.Front.Static;
using Gunicorn.Settings.Records;
using Microsoft.AspNetCore.Http.Features;
using Polly;
using Polly.Retry;
using Yarp.ReverseProxy.Forwarder;

namespace Gunicorn.Front.Forwarding;

/// <summary>
/// The terminal step of the front: take a slot on a worker, forward with YARP's forwarder, and handle what can go wrong.
/// A connect failure is retried on another worker for any method (nothing reached a worker); a request sent but
/// unanswered is retried once only when it is a GET, HEAD or OPTIONS without body. No worker in time: 503 with
/// Retry-After. A worker killed for exceeding timeout: 504.
/// </summary>
public sealed class ForwardingHandler(
    IHttpForwarder forwarder,
    WorkerSockets sockets,
    WorkerDispatcher dispatcher,
    InFlightRequests inFlight,
    GunicornConfig config,
    InternalRedirects internalRedirects,
    ErrorPages errorPages)
{
    private const int MaxConnectAttempts = 3;

    private readonly TrustedPeers _trusted = new(config.Proxy.ForwardedAllowIps);
    private readonly KeyValuePair<string, string>[] _secureSchemeHeaders = [.. config.Proxy.SecureSchemeHeaders];
    private readonly FrontTransformer _transformer = new(config.Proxy);
    private readonly ForwarderRequestConfig _requestConfig = new()
    {
        Version = HttpVersion.Version11,
        VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        ActivityTimeout = ActivityTimeoutFor(config.Pool.TimeoutSeconds),
    };

    /// <summary>
    /// How long a worker may send nothing before the front gives up on it (504): the arbiter's timeout decides when a
    /// worker is stuck, this only bounds a silent upstream, well past it. timeout 0 means no timeout, as in gunicorn.
    /// </summary>
    internal static TimeSpan ActivityTimeoutFor(int timeoutSeconds) =>
        timeoutSeconds <= 0 ? System.Threading.Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(Math.Max(60, 2 * timeoutSeconds));

    /// <summary>Whether the workers can take a WebSocket: an ASGI app, or an ASP.NET Core app (a WSGI app cannot).</summary>
    private readonly bool _workersUpgrade = config.Pool.WorkerClass == Gunicorn.Settings.Types.WorkerClassType.Asgi
        || (config.App.Target?.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ?? false);

    /// <summary>How long a request may wait for a free worker (and for the first workers at startup).</summary>
    private readonly TimeSpan _queueWait = QueueWaitFor(config.Pool.TimeoutSeconds);

    /// <summary>
    /// A queued request waits for a worker as long as a worker may take to answer (timeout), then gets 503; timeout 0
    /// means no timeout, so it waits as long as it takes, as a request in gunicorn's backlog does.
    /// </summary>
    internal static TimeSpan QueueWaitFor(int timeoutSeconds) =>
        timeoutSeconds <= 0 ? System.Threading.Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(timeoutSeconds);

    public Task InvokeAsync(HttpContext context)
    {
        var forwarding = ForwardAsync(context);
        return forwarding.IsCompletedSuccessfully ? Task.CompletedTask : forwarding.AsTask();
    }

    /// <summary>
    /// The request's whole forwarding. Its state machine is pooled (Kestrel gets a small task standing for it): every
    /// proxied request waits in it, and a state machine of this size per request was the front's largest allocation.
    /// </summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ForwardAsync(HttpContext context)
    {
        if (context.Features.Get<ClientIdentity>() is null && !await ResolveIdentityAsync(context, _trusted, _secureSchemeHeaders))
        {
            return;
        }

        // Slow clients must not hold workers: the body is read before a worker is chosen (unless the route streams).
        // An HTTP/1.1 Upgrade or HTTP/2 extended CONNECT (WebSocket) is never buffered either way: once accepted the
        // connection (or stream) is duplex.
        var upgrade = WebSocketRequests.IsDuplex(context);
        if (upgrade && !_workersUpgrade && WebSocketRequests.IsWebSocket(context))
        {
            context.Response.StatusCode = StatusCodes.Status501NotImplemented;
            await context.Response.WriteAsync("WebSockets need an ASGI app (worker_class: asgi) or an ASP.NET Core app; this app is WSGI.\n");
            return;
        }
        var streamed = upgrade || IsStreamedRoute(context.Request.Path);
        var (requestBuffer, refusal) = await RequestBuffer.ReadAsync(context, config.Limits, enabled: config.Limits.RequestBuffering && !streamed);
        if (refusal is { } status)
        {
            context.Response.Headers.Connection = "close";
            await errorPages.WriteAsync(context, status, null);
            return;
        }
        await using var requestBody = requestBuffer;
        await using var pauseLimit = requestBuffer is null && !upgrade && context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true
            ? new StreamedBodyPauseLimit(context.Request.Body, context, TimeSpan.FromSeconds(config.Limits.BodyTimeoutSeconds))
            : null;
        if (pauseLimit is not null)
        {
            // A body that goes to the worker as it arrives: client_body_timeout bounds its pauses here.
            context.Request.Body = pauseLimit;
        }
        var responseBuffer = config.Limits.ResponseBuffering && !streamed
            ? new BufferedResponseBody(context.Response.Body, config.Limits.ResponseBufferSize)
            : null;
        if (responseBuffer is null)
        {
            var (first, worker) = await AttemptAsync(context, previous: null, upgrade);
            if (NeedsRetry(context, first))
            {
                await RetryAsync(context, first, worker);
            }
            if (IsFrontError(context))
            {
                await errorPages.WriteAsync(context, context.Response.StatusCode, null);
                return;
            }
            await ServeInternalRedirectAsync(context);
            return;
        }
        context.Features.Set(responseBuffer);
        context.Response.Body = responseBuffer;
        try
        {
            var (first, worker) = await AttemptAsync(context, previous: null, upgrade);
            if (NeedsRetry(context, first))
            {
                await RetryAsync(context, first, worker);
            }
        }
        catch
        {
            context.Response.Body = responseBuffer.Client;
            await responseBuffer.DisposeAsync();
            throw;
        }
        context.Response.Body = responseBuffer.Client;
        if (responseBuffer.HasContent && context.Features.Get<IForwarderErrorFeature>() is { } broken)
        {
            // The worker's response broke off after part of it was buffered (a worker killed, an app that stopped
            // mid-body): what was buffered must not go out as if it were the whole response.
            Gunicorn.Shared.Logging.ErrorLog.Warning(
                $"The worker's response to {context.Request.Method} {context.Request.Path} broke off ({broken.Error}); closing the client's connection rather than sending it incomplete");
            await responseBuffer.DisposeAsync();
            context.Abort();
            return;
        }
        if (!responseBuffer.HasContent && IsFrontError(context))
        {
            await responseBuffer.DisposeAsync();
            await errorPages.WriteAsync(context, context.Response.StatusCode, null);
            return;
        }
        if (context.Features.Get<InternalRedirects.Redirect>() is not null)
        {
            await responseBuffer.DisposeAsync();
            await ServeInternalRedirectAsync(context);
            return;
        }
        if (Gunicorn.Shared.Logging.ErrorLog.DebugEnabled)
        {
            Gunicorn.Shared.Logging.ErrorLog.Debug($"The worker has answered {context.Request.Method} {context.Request.Path}; sending the buffered response to the client");
        }
        try
        {
            await responseBuffer.SendBufferedAsync(context.RequestAborted);
        }
        finally
        {
            await responseBuffer.DisposeAsync();
        }
    }

    /// <summary>
    /// Decides the client's address and scheme once per request (the feature later steps read). False, with 400 sent,
    /// when trusted secure-scheme headers contradict each other (gunicorn's InvalidSchemeHeaders).
    /// </summary>
    public static async ValueTask<bool> ResolveIdentityAsync(HttpContext context, TrustedPeers trusted,
        KeyValuePair<string, string>[] secureSchemeHeaders)
    {
        if (ClientIdentity.Resolve(context, trusted, secureSchemeHeaders) is not { } identity)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("Contradictory scheme headers\n");
            return false;
        }
        context.Features.Set(identity);
        return true;
    }

    /// <summary>A 502 or 504 the front produced (no worker answer reached the client), whose page may be replaced.</summary>
    private bool IsFrontError(HttpContext context) =>
        !context.Response.HasStarted && context.Features.Get<IForwarderErrorFeature>() is not null
        && errorPages.Has(context.Response.StatusCode);

    /// <summary>The worker answered with X-Accel-Redirect or X-Sendfile: its slot is already free; the front sends the file.</summary>
    private Task ServeInternalRedirectAsync(HttpContext context) =>
        context.Features.Get<InternalRedirects.Redirect>() is { } redirect
            ? internalRedirects.ServeAsync(context, redirect)
            : Task.CompletedTask;

    /// <summary>How one attempt ended, for the retry policy. (A class, not an enum: Polly's handling of enum results
    /// needs runtime code generation, which a native build does not have.)</summary>
    private sealed class Attempt
    {
        public static readonly Attempt Done = new(), ConnectFailed = new(), Unanswered = new();
    }

    private static readonly ResiliencePropertyKey<HttpContext> HttpContextKey = new("gunicorn-net.http-context");
    private static readonly ResiliencePropertyKey<WorkerDispatcher.Slot?> PreviousWorkerKey = new("gunicorn-net.previous-worker");
    private static readonly ResiliencePropertyKey<Attempt?> FirstOutcomeKey = new("gunicorn-net.first-outcome");

    /// <summary>
    /// The retry policy (Polly): a connect failure is retried on another worker up to <see cref="MaxConnectAttempts"/>
    /// attempts in all, whatever the method; a request sent but unanswered is retried once, and only when repeating it
    /// is safe (GET, HEAD, OPTIONS without a body). No delay: another worker is ready, or the request waits in the queue.
    /// </summary>
    private static readonly ResiliencePipeline<Attempt> Retry = new ResiliencePipelineBuilder<Attempt>()
        .AddRetry(new RetryStrategyOptions<Attempt>
        {
            MaxRetryAttempts = MaxConnectAttempts - 1,
            Delay = TimeSpan.Zero,
            BackoffType = DelayBackoffType.Constant,
            ShouldHandle = args => ValueTask.FromResult(
                args.Outcome.Result == Attempt.ConnectFailed
                || (args.Outcome.Result == Attempt.Unanswered && args.AttemptNumber == 0
                    && IsSafeToRepeat(args.Context.Properties.GetValue(HttpContextKey, null!)))),
            OnRetry = args =>
            {
                // Undo what the forwarder recorded for the failed attempt.
                var context = args.Context.Properties.GetValue(HttpContextKey, null!);
                context.Features.Set<IForwarderErrorFeature>(null);
                context.Response.StatusCode = StatusCodes.Status200OK;
                return default;
            },
        })
        .Build();

    /// <summary>
    /// The first attempt runs outside the retry pipeline, awaited by <see cref="ForwardAsync"/> itself (no async level
    /// of its own): almost every request ends there, and the pipeline costs a pooled context, its property bag and two
    /// state machines per request (about 3% of the front's CPU per proxied hello). Only a failed first attempt enters
    /// the pipeline, which starts from that outcome (replayed as its attempt 0, so its rules are the same as if it had
    /// made the attempt itself) and decides the retries.
    /// </summary>
    private static bool NeedsRetry(HttpContext context, Attempt first) =>
        // A client that went away ends here too: the pipeline would not replay an outcome under a cancelled token.
        first != Attempt.Done && !context.RequestAborted.IsCancellationRequested;

    private async Task RetryAsync(HttpContext context, Attempt first, WorkerDispatcher.Slot? worker)
    {
        var resilience = ResilienceContextPool.Shared.Get(context.RequestAborted);
        resilience.Properties.Set(HttpContextKey, context);
        resilience.Properties.Set(PreviousWorkerKey, worker);
        resilience.Properties.Set(FirstOutcomeKey, first);
        try
        {
            await Retry.ExecuteAsync(static (resilience, handler) => handler.AttemptInPipelineAsync(resilience), resilience, this);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(resilience);
        }
    }

    private async ValueTask<Attempt> AttemptInPipelineAsync(ResilienceContext resilience)
    {
        if (resilience.Properties.GetValue(FirstOutcomeKey, null) is { } first)
        {
            resilience.Properties.Set(FirstOutcomeKey, null);
            return first;
        }
        var context = resilience.Properties.GetValue(HttpContextKey, null!);
        var (outcome, worker) = await AttemptAsync(context, resilience.Properties.GetValue(PreviousWorkerKey, null),
            WebSocketRequests.IsDuplex(context));
        resilience.Properties.Set(PreviousWorkerKey, worker);
        return outcome;
    }

    /// <summary>One attempt on one worker (avoiding <paramref name="previous"/>, the worker of a failed attempt). Its
    /// state machine is pooled: every proxied request waits in it for the worker's answer.</summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<(Attempt Outcome, WorkerDispatcher.Slot? Worker)> AttemptAsync(HttpContext context, WorkerDispatcher.Slot? previous, bool duplex)
    {
        var mark = context.Features.Get<PrometheusMetrics.RequestMark>();
        var queued = mark is null ? 0 : Stopwatch.GetTimestamp();
        var slot = await dispatcher.AcquireAsync(_queueWait, context.RequestAborted, avoid: previous);
        if (mark is not null)
        {
            mark.Forwarded = true;
            mark.QueueWait += Stopwatch.GetElapsedTime(queued);
        }
        if (slot is null)
        {
            await errorPages.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "No worker is free to take this request. Try again shortly.\n");
            return (Attempt.Done, previous);
        }
        var entry = inFlight.Add(slot.Key, context.Request.Method, context.Request.Path.Value ?? "/",
            webSocket: duplex);
        ForwarderError error;
        try
        {
            error = await forwarder.SendAsync(context, slot.Prefix, sockets.Client, _requestConfig, _transformer);
        }
        finally
        {
            InFlightRequests.Remove(entry);
            dispatcher.Release(slot);
        }
        if (error != ForwarderError.None)
        {
            LogFailedAttempt(context, slot, error, retry: previous is not null);
        }
        if (error == ForwarderError.None || context.Response.HasStarted || context.Features.Get<BufferedResponseBody>()?.HasContent == true)
        {
            mark?.WorkerAnswered = true;
            return (Attempt.Done, slot);
        }
        if (entry.TimedOut)
        {
            context.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
            return (Attempt.Done, slot);
        }
        return (IsConnectFailure(context.Features.Get<IForwarderErrorFeature>()?.Exception) ? Attempt.ConnectFailed : Attempt.Unanswered, slot);
    }

    /// <summary>
    /// What went wrong between the front and a worker, as nginx's "upstream prematurely closed connection" lines do:
    /// the worker, the request and the cause. A client that went away is not the worker's fault and logs at debug.
    /// </summary>
    private static void LogFailedAttempt(HttpContext context, WorkerDispatcher.Slot slot, ForwarderError error, bool retry)
    {
        var cause = context.Features.Get<IForwarderErrorFeature>()?.Exception;
        var message = $"Forwarding {context.Request.Method} {context.Request.Path} to worker {slot.Key}{(retry ? " (a retry)" : "")} failed: {error}"
            + (cause is null ? "" : $" ({cause.GetBaseException().Message})");
        if (error is ForwarderError.RequestCanceled or ForwarderError.RequestBodyClient or ForwarderError.ResponseBodyClient or ForwarderError.UpgradeResponseClient)
        {
            Gunicorn.Shared.Logging.ErrorLog.Debug(message);
        }
        else
        {
            Gunicorn.Shared.Logging.ErrorLog.Warning(message);
        }
    }

    /// <summary>unbuffered_paths: nginx's per-location proxy_buffering off and proxy_request_buffering off.</summary>
    private bool IsStreamedRoute(PathString path)
    {
        foreach (var prefix in config.Limits.UnbufferedPaths)
        {
            if (path.StartsWithSegments(prefix))
            {
                return true;
            }
        }
        return false;
    }

    private static bool IsSafeToRepeat(HttpContext context)
    {
        var request = context.Request;
        var safe = HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method);
        return safe && request.ContentLength is null or 0 && !request.Headers.ContainsKey("Transfer-Encoding");
    }

    private static bool IsConnectFailure(Exception? failure)
    {
        for (var e = failure; e is not null; e = e.InnerException)
        {
            if (e is WorkerGoneException || e is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError })
            {
                return true;
            }
        }
        return false;
    }
}
