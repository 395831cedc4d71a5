using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Types;

namespace Gunicorn.Settings.Sections;

public static class InstrumentationSettings
{
    public static readonly Setting<string?> StatsdHost = new()
    {
        Key = "statsd_host",
        Section = Section.Instrumentation,
        Cli = ["--statsd-host"],
        Meta = "STATSD_ADDR",
        Type = Scalars.OptionalText,
        Default = null,
        Rules = [new Rule<string?>(v => v is null || v.Contains(':') || v.StartsWith("unix:"),
            v => $"expected HOST:PORT or unix:PATH, got \"{v}\".", "StatsD usually listens on localhost:8125.")],
        Doc = """
            Where to send StatsD metrics (`HOST:PORT` over UDP, or `unix:PATH`, a datagram socket), with gunicorn's
            names: `gunicorn.requests`, `gunicorn.request.duration` (ms), `gunicorn.request.status.NNN`,
            `gunicorn.workers`, `gunicorn.log.warning|error|critical` (each process counts its own lines, master and
            workers), and `gunicorn.backlog` with `enable_backlog_metric`. Unset: no metrics. A StatsD
            that is down costs one warning, never a slower request.
            """,
    };

    public static readonly Setting<string> StatsdPrefix = new()
    {
        Key = "statsd_prefix",
        Section = Section.Instrumentation,
        Cli = ["--statsd-prefix"],
        Meta = "STATSD_PREFIX",
        Type = Scalars.Text,
        Default = "",
        Doc = "A prefix for the StatsD metric names (a dot is added when it does not end with one, as gunicorn does).",
    };

    public static readonly Setting<string?> DogstatsdTags = new()
    {
        Key = "dogstatsd_tags",
        Section = Section.Instrumentation,
        Cli = ["--dogstatsd-tags"],
        Meta = "DOGSTATSD_TAGS",
        Type = Scalars.OptionalText,
        Default = null,
        Doc = "Tags added to every StatsD line in DogStatsD's format (`|#env:prod,service:web`), a comma-separated list of `key:value`.",
    };

    public static readonly Setting<BindAddress?> MetricsBind = new()
    {
        Key = "metrics_bind",
        Section = Section.Instrumentation,
        Cli = ["--metrics-bind"],
        Meta = "ADDRESS",
        Type = BindAddress.OptionalType,
        Default = null,
        Rules = [new Rule<BindAddress?>(v => v is null || v.Kind != BindKind.FileDescriptor,
            v => $"fd:// is not supported here, got \"{v}\".", "Give HOST:PORT (e.g. 127.0.0.1:9100) or unix:PATH.")],
        Doc = """
            Where to serve `/metrics` in the Prometheus text format (`HOST:PORT` or `unix:PATH`; unset: off): requests
            by status class, method and route kind, latency, bytes, in-flight and queued requests, the front's own
            502/503/504, workers by generation and state, spawns, timeouts, crashes, recycles and reloads, each
            worker's memory and CPU, TLS handshakes. Counts span reloads and every worker of the master. A separate
            listener, so that clients of `bind` cannot read it; keep it on a private address.
            """,
    };

    public static readonly Setting<bool> EnableBacklogMetric = new()
    {
        Key = "enable_backlog_metric",
        Section = Section.Instrumentation,
        Cli = ["--enable-backlog-metric"],
        Type = Scalars.Bool,
        Default = false,
        Doc = """
            Send gunicorn's `gunicorn.backlog` StatsD gauge every second: connections waiting in the listeners'
            accept queues (Linux TCP_INFO), as gunicorn does. `/metrics` always has it as `gunicorn_listen_backlog`.
            """,
    };
}
