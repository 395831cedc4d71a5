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
        Doc = "Where to send StatsD metrics (`HOST:PORT` over UDP, or `unix:PATH`). Unset: no metrics.",
    };

    public static readonly Setting<string> StatsdPrefix = new()
    {
        Key = "statsd_prefix",
        Section = Section.Instrumentation,
        Cli = ["--statsd-prefix"],
        Meta = "STATSD_PREFIX",
        Type = Scalars.Text,
        Default = "",
        Doc = "A prefix for the StatsD metric names.",
    };
}
