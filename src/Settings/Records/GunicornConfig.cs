using Gunicorn.Shared.Contract;
using Gunicorn.Settings.Types;

namespace Gunicorn.Settings.Records;

/// <summary>The whole runtime configuration, immutable. Built in one place: <see cref="ConfigBinder"/>.</summary>
public sealed record GunicornConfig(
    ListenerConfig Listeners,
    LimitsConfig Limits,
    WorkerPoolConfig Pool,
    AppConfig App,
    LoggingConfig Logging,
    ProcessConfig Process,
    HooksConfig Hooks,
    ProxyConfig Proxy,
    StaticConfig Static,
    HttpFeaturesConfig Http,
    StatsdConfig Statsd,
    MetricsConfig Metrics,
    string ConfigSource);

/// <summary>Where and how the front tier accepts clients.</summary>
public sealed record ListenerConfig(
    IReadOnlyList<BindAddress> Bind,
    int Backlog,
    int KeepAliveSeconds,
    IReadOnlyList<string> HttpProtocols,
    TlsConfig Tls,
    bool ReusePort,
    Http2Config Http2);

/// <summary>gunicorn's http2_* settings, as Kestrel's HTTP/2 limits.</summary>
/// <param name="CleartextPriorKnowledge">http2_cleartext: prior-knowledge: plaintext listeners speak HTTP/2 only.</param>
public sealed record Http2Config(int MaxConcurrentStreams, int InitialWindowSize, int MaxFrameSize, int MaxHeaderListSize, bool CleartextPriorKnowledge);

/// <param name="SslVersion">ssl_version: TLS (1.2 and 1.3), TLSv1_2 or TLSv1_3 only.</param>
public sealed record TlsConfig(string? CertFile, string? KeyFile, string? CaCerts, int CertReqs, string? Ciphers, string SslVersion = "TLS")
{
    public bool Enabled => CertFile is not null;
}

/// <summary>Request limits and slow-client protection at the front tier.</summary>
public sealed record LimitsConfig(
    int RequestLine,
    int RequestFields,
    int RequestFieldSize,
    bool PermitUnconventionalHttpMethod,
    long MaxBodySize,
    double HeaderTimeoutSeconds,
    double BodyTimeoutSeconds,
    double SendTimeoutSeconds,
    bool RequestBuffering,
    long RequestBufferSize,
    bool ResponseBuffering,
    IReadOnlyList<string> UnbufferedPaths,
    long ResponseBufferSize,
    int RequestQueueSize,
    double DrainPeriodSeconds,
    string? HealthPath,
    string? TmpUploadDir,
    bool CasefoldHttpMethod)
{
    /// <summary>limit_request_line 0 (gunicorn's "unlimited"): as long as the front's request buffer allows (1 MiB).</summary>
    public const int UnlimitedRequestLine = 1024 * 1024 - 2;
}

/// <summary>The worker pool the arbiter supervises.</summary>
public sealed record WorkerPoolConfig(
    int Workers,
    string WorkerClass,
    int Threads,
    int WorkerConnections,
    int MaxRequests,
    int MaxRequestsJitter,
    int TimeoutSeconds,
    int GracefulTimeoutSeconds,
    string? WorkerTmpDir,
    string? User,
    string? Group,
    bool InitGroups,
    int Umask,
    IReadOnlyList<string> RawEnv,
    bool DotnetDiagnostics = false,
    bool BatchScheduling = true)
{
    /// <summary>How many requests the front sends one worker at once.</summary>
    public int ConcurrencyPerWorker => WorkerClass switch
    {
        WorkerClassType.GThread => Threads,
        WorkerClassType.Async or WorkerClassType.Asgi => WorkerConnections,
        _ => 1,
    };
}

/// <summary>What the workers run and how it is loaded.</summary>
public sealed record AppConfig(
    string? Target,
    string Chdir,
    string Python,
    IReadOnlyList<string> PythonPath,
    bool Reload,
    IReadOnlyList<string> ReloadExtraFiles,
    bool CaptureOutput,
    Gunicorn.Shared.Contract.AsgiOptions Asgi);

/// <param name="Syslog">Null unless <c>syslog</c> is on.</param>
public sealed record LoggingConfig(string? AccessLog, string AccessLogFormat, string ErrorLog, string LogLevel,
    Gunicorn.Shared.Logging.SyslogTarget? Syslog, bool EnableStdioInheritance);

/// <param name="ControlSocket">Null when <c>control_socket_disable</c>.</param>
/// <param name="FrontThreads">front_threads: the master's event threads; null is auto.</param>
public sealed record ProcessConfig(string? ProcName, string DefaultProcName, string? PidFile, bool Daemon, string? ControlSocket, int ControlSocketMode,
    int? FrontThreads);

public sealed record HooksConfig(
    HookCommand? OnStarting,
    HookCommand? OnReload,
    HookCommand? WhenReady,
    HookCommand? PreFork,
    HookCommand? PostFork,
    HookCommand? PostWorkerInit,
    HookCommand? WorkerInt,
    HookCommand? WorkerAbort,
    HookCommand? PreExec,
    HookCommand? PreRequest,
    HookCommand? PostRequest,
    HookCommand? ChildExit,
    HookCommand? WorkerExit,
    HookCommand? NWorkersChanged,
    HookCommand? OnExit,
    double TimeoutSeconds);

/// <summary>What the front trusts from peers and what it passes on.</summary>
public sealed record ProxyConfig(
    IReadOnlyList<string> ForwardedAllowIps,
    IReadOnlyDictionary<string, string> SecureSchemeHeaders,
    bool ProxyProtocol,
    IReadOnlyList<string> ProxyAllowIps,
    IReadOnlyList<string> ForwarderHeaders,
    string HeaderMap);

public sealed record StaticConfig(IReadOnlyList<StaticMapping> Mappings, bool Sendfile);

/// <summary>nginx's common directives: compression, HTTPS redirects and HSTS, error pages, per-client limits.</summary>
public sealed record HttpFeaturesConfig(
    CompressionConfig Compression,
    IReadOnlyList<BindAddress> HttpsRedirectBind,
    int HttpsRedirectStatus,
    int HttpsPort,
    string? StrictTransportSecurity,
    IReadOnlyDictionary<int, string> ErrorPages,
    ClientLimitsConfig ClientLimits);

public sealed record CompressionConfig(bool Gzip, bool Brotli, IReadOnlyList<string> Types, long MinLength, int GzipLevel, int BrotliLevel, long CacheSize)
{
    public bool Enabled => Gzip || Brotli;
}

/// <summary>limit_req and limit_conn per client address. Records compare by value: equal limits keep their counters on reload.</summary>
public sealed record ClientLimitsConfig(double? RequestsPerSecond, int Burst, bool NoDelay, int RequestStatus, int Connections, int ConnectionStatus, IReadOnlyList<string> Paths)
{
    public bool Enabled => RequestsPerSecond is not null || Connections > 0;

    public bool Equals(ClientLimitsConfig? other) => other is not null
        && RequestsPerSecond == other.RequestsPerSecond && Burst == other.Burst && NoDelay == other.NoDelay
        && RequestStatus == other.RequestStatus && Connections == other.Connections
        && ConnectionStatus == other.ConnectionStatus && Paths.SequenceEqual(other.Paths);

    public override int GetHashCode() => HashCode.Combine(RequestsPerSecond, Burst, NoDelay, Connections);
}

public sealed record StatsdConfig(string? Host, string Prefix, string? DogstatsdTags, bool BacklogMetric);

/// <summary>The Prometheus endpoint: where <c>/metrics</c> is served, or null when off.</summary>
public sealed record MetricsConfig(BindAddress? Bind);
