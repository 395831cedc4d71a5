using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Sections;

namespace Gunicorn.Settings.Records;

/// <summary>The single conversion point from resolved settings to the runtime records; nothing else reads settings by key.</summary>
public static class ConfigBinder
{
    public static GunicornConfig Bind(ResolvedSettings settings, string configSource) =>
        Bind(new Reader(settings), configSource);

    /// <summary>Which settings the records consume (a registry invariant test uses it).</summary>
    internal static IReadOnlySet<SettingDefinition> ConsumedSettings(ResolvedSettings settings)
    {
        var reader = new Reader(settings);
        Bind(reader, "");
        return reader.Read;
    }

    private static GunicornConfig Bind(Reader s, string configSource) => new(
        new ListenerConfig(
            s.Get(ServerSocketSettings.Bind),
            s.Get(ServerSocketSettings.Backlog),
            s.Get(WorkerProcessSettings.KeepAlive),
            s.Get(ProxySettings.HttpProtocols),
            new TlsConfig(
                s.Path(SslSettings.CertFile),
                s.Path(SslSettings.KeyFile),
                s.Path(SslSettings.CaCerts),
                s.Get(SslSettings.CertReqs),
                s.Get(SslSettings.Ciphers),
                s.Get(SslSettings.SslVersion) is "TLSv1_2" or "TLSv1_3" ? s.Get(SslSettings.SslVersion) : "TLS"),
            s.Get(ServerSocketSettings.ReusePort),
            new Http2Config(
                s.Get(Http2Settings.Http2MaxConcurrentStreams),
                s.Get(Http2Settings.Http2InitialWindowSize),
                s.Get(Http2Settings.Http2MaxFrameSize),
                s.Get(Http2Settings.Http2MaxHeaderListSize),
                s.Get(Http2Settings.Http2Cleartext) == "prior-knowledge")),
        new LimitsConfig(
            // gunicorn's clamping: 0 means unlimited, too large means its maximum.
            s.Get(SecuritySettings.LimitRequestLine) switch { 0 => LimitsConfig.UnlimitedRequestLine, > 8190 => 8190, var line => line },
            s.Get(SecuritySettings.LimitRequestFields) is 0 or > 32768 ? 32768 : s.Get(SecuritySettings.LimitRequestFields),
            s.Get(SecuritySettings.LimitRequestFieldSize) is 0 ? 8190 : s.Get(SecuritySettings.LimitRequestFieldSize),
            s.Get(SecuritySettings.PermitUnconventionalHttpMethod),
            s.Get(FrontLimitSettings.ClientMaxBodySize),
            s.Get(FrontLimitSettings.ClientHeaderTimeout),
            s.Get(FrontLimitSettings.ClientBodyTimeout),
            s.Get(FrontLimitSettings.SendTimeout),
            s.Get(FrontLimitSettings.RequestBuffering),
            s.Get(FrontLimitSettings.RequestBufferSize),
            s.Get(FrontLimitSettings.ResponseBuffering),
            s.Get(FrontLimitSettings.UnbufferedPaths),
            s.Get(FrontLimitSettings.ResponseBufferSize),
            s.Get(FrontLimitSettings.RequestQueueSize),
            s.Get(FrontLimitSettings.DrainPeriod),
            s.Get(FrontLimitSettings.HealthPath),
            s.Path(ServerMechanicsSettings.TmpUploadDir),
            s.Get(ServerMechanicsSettings.CasefoldHttpMethod)),
        new WorkerPoolConfig(
            s.Get(WorkerProcessSettings.Workers),
            s.Get(WorkerProcessSettings.WorkerClass),
            s.Get(WorkerProcessSettings.Threads),
            s.Get(WorkerProcessSettings.WorkerConnections),
            s.Get(WorkerProcessSettings.MaxRequests),
            s.Get(WorkerProcessSettings.MaxRequestsJitter),
            s.Get(WorkerProcessSettings.Timeout),
            s.Get(WorkerProcessSettings.GracefulTimeout),
            s.Path(ServerMechanicsSettings.WorkerTmpDir),
            s.Get(ServerMechanicsSettings.User),
            s.Get(ServerMechanicsSettings.Group),
            s.Get(ServerMechanicsSettings.InitGroups),
            s.Get(ServerMechanicsSettings.Umask),
            s.Get(ServerMechanicsSettings.RawEnv),
            s.Get(DebuggingSettings.DotnetDiagnostics),
            s.Get(WorkerProcessSettings.WorkerBatchScheduling)),
        new AppConfig(
            s.Get(ConfigFileSettings.WsgiApp),
            s.Path(ServerMechanicsSettings.Chdir)!,
            s.Get(ServerMechanicsSettings.Python),
            s.Get(ServerMechanicsSettings.PythonPath),
            s.Get(DebuggingSettings.Reload),
            s.Get(DebuggingSettings.ReloadExtraFiles),
            s.Get(LoggingSettings.CaptureOutput),
            new Gunicorn.Shared.Contract.AsgiOptions(
                s.Get(AsgiSettings.AsgiLoop),
                s.Get(AsgiSettings.AsgiLifespan),
                s.Get(AsgiSettings.AsgiDisconnectGracePeriod),
                s.Get(AsgiSettings.RootPath),
                s.Get(AsgiSettings.WebsocketMaxMessageSize),
                s.Get(AsgiSettings.WebsocketPingInterval),
                s.Get(AsgiSettings.WebsocketPingTimeout))),
        new LoggingConfig(
            s.Get(LoggingSettings.AccessLog),
            s.Get(LoggingSettings.AccessLogFormat),
            s.Get(LoggingSettings.ErrorLog),
            s.Get(LoggingSettings.LogLevel),
            Syslog(s),
            s.Get(LoggingSettings.EnableStdioInheritance)),
        new ProcessConfig(
            s.Get(ProcessNamingSettings.ProcName),
            s.Get(ProcessNamingSettings.DefaultProcName),
            s.Path(ServerMechanicsSettings.PidFile),
            s.Get(ServerMechanicsSettings.Daemon),
            s.Get(ServerMechanicsSettings.ControlSocketDisable) ? null : s.Path(ServerMechanicsSettings.ControlSocket)!,
            s.Get(ServerMechanicsSettings.ControlSocketMode),
            s.Get(ServerSocketSettings.FrontThreads)),
        new HooksConfig(
            s.Get(ServerHookSettings.OnStarting),
            s.Get(ServerHookSettings.OnReload),
            s.Get(ServerHookSettings.WhenReady),
            s.Get(ServerHookSettings.PreFork),
            s.Get(ServerHookSettings.PostFork),
            s.Get(ServerHookSettings.PostWorkerInit),
            s.Get(ServerHookSettings.WorkerInt),
            s.Get(ServerHookSettings.WorkerAbort),
            s.Get(ServerHookSettings.PreExec),
            s.Get(ServerHookSettings.PreRequest),
            s.Get(ServerHookSettings.PostRequest),
            s.Get(ServerHookSettings.ChildExit),
            s.Get(ServerHookSettings.WorkerExit),
            s.Get(ServerHookSettings.NWorkersChanged),
            s.Get(ServerHookSettings.OnExit),
            s.Get(ServerHookSettings.HookTimeout)),
        new ProxyConfig(
            s.Get(ProxySettings.ForwardedAllowIps),
            s.Get(ProxySettings.SecureSchemeHeaders),
            s.Get(ProxySettings.ProxyProtocol),
            s.Get(ProxySettings.ProxyAllowIps),
            s.Get(ProxySettings.ForwarderHeaders),
            s.Get(ProxySettings.HeaderMap)),
        new StaticConfig(
            s.Get(FrontStaticSettings.Static),
            s.Get(ServerMechanicsSettings.Sendfile)),
        new HttpFeaturesConfig(
            new CompressionConfig(
                s.Get(FrontHttpSettings.Gzip),
                s.Get(FrontHttpSettings.Brotli),
                s.Get(FrontHttpSettings.GzipTypes),
                s.Get(FrontHttpSettings.GzipMinLength),
                s.Get(FrontHttpSettings.GzipCompLevel),
                s.Get(FrontHttpSettings.BrotliCompLevel),
                s.Get(FrontHttpSettings.CompressionCacheSize)),
            s.Get(FrontHttpSettings.HttpsRedirectBind),
            s.Get(FrontHttpSettings.HttpsRedirectStatus),
            s.Get(FrontHttpSettings.HttpsPort),
            StrictTransportSecurity(s.Get(FrontHttpSettings.HstsMaxAge), s.Get(FrontHttpSettings.HstsIncludeSubdomains), s.Get(FrontHttpSettings.HstsPreload)),
            s.PathMap(FrontHttpSettings.ErrorPage).ToDictionary(e => int.Parse(e.Key, System.Globalization.CultureInfo.InvariantCulture), e => e.Value),
            new ClientLimitsConfig(
                s.Get(FrontHttpSettings.LimitReqRate) is { } rate ? FrontHttpSettings.ParseRate(rate) : null,
                s.Get(FrontHttpSettings.LimitReqBurst),
                s.Get(FrontHttpSettings.LimitReqNodelay),
                s.Get(FrontHttpSettings.LimitReqStatus),
                s.Get(FrontHttpSettings.LimitConn),
                s.Get(FrontHttpSettings.LimitConnStatus),
                s.Get(FrontHttpSettings.LimitPaths))),
        new StatsdConfig(
            s.Get(InstrumentationSettings.StatsdHost),
            s.Get(InstrumentationSettings.StatsdPrefix),
            s.Get(InstrumentationSettings.DogstatsdTags),
            s.Get(InstrumentationSettings.EnableBacklogMetric)),
        new MetricsConfig(s.Get(InstrumentationSettings.MetricsBind)),
        configSource);

    /// <summary>gunicorn's syslog handler settings; the tag's prefix is syslog_prefix, else the process name.</summary>
    private static Gunicorn.Shared.Logging.SyslogTarget? Syslog(Reader s)
    {
        var on = s.Get(SyslogSettings.Syslog);
        var address = s.Get(SyslogSettings.SyslogAddr);
        var facility = s.Get(SyslogSettings.SyslogFacility);
        var access = !s.Get(SyslogSettings.DisableRedirectAccessToSyslog);
        var prefix = s.Get(SyslogSettings.SyslogPrefix)
            ?? s.Get(ProcessNamingSettings.ProcName) ?? s.Get(ConfigFileSettings.WsgiApp) ?? s.Get(ProcessNamingSettings.DefaultProcName);
        return on ? new Gunicorn.Shared.Logging.SyslogTarget(address, facility, prefix.Replace(':', '.'), access) : null;
    }

    /// <summary>The header value, or null when hsts_max_age is 0.</summary>
    private static string? StrictTransportSecurity(double maxAge, bool includeSubdomains, bool preload) => maxAge <= 0
        ? null
        : $"max-age={(long)maxAge}" + (includeSubdomains ? "; includeSubDomains" : "") + (preload ? "; preload" : "");

    /// <summary>Reads settings and remembers which were read.</summary>
    private sealed class Reader(ResolvedSettings settings)
    {
        public HashSet<SettingDefinition> Read { get; } = [];

        public T Get<T>(Setting<T> setting)
        {
            Read.Add(setting);
            return settings.Get(setting);
        }

        /// <summary>A path setting, made absolute against where it was written (the config file's directory or the working directory).</summary>
        public string? Path(SettingDefinition setting)
        {
            Read.Add(setting);
            var (value, origin) = settings[setting];
            return value is string path ? origin.ResolvePath(path) : null;
        }

        /// <summary>A mapping whose values are paths, made absolute against where it was written.</summary>
        public IReadOnlyDictionary<string, string> PathMap(Setting<IReadOnlyDictionary<string, string>> setting)
        {
            Read.Add(setting);
            var origin = settings[setting].Origin;
            return settings.Get(setting).ToDictionary(e => e.Key, e => origin.ResolvePath(e.Value));
        }
    }
}
