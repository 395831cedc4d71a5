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
            `gunicorn.workers`, `gunicorn.log.warning|error|critical` (the master's lines). Unset: no metrics. A StatsD
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
}
