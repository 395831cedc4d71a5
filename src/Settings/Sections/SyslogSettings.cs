using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Types;

namespace Gunicorn.Settings.Sections;

/// <summary>gunicorn's syslog output: the error log and the access log also sent to a syslog daemon.</summary>
public static class SyslogSettings
{
    public static readonly Setting<bool> Syslog = new()
    {
        Key = "syslog",
        Section = Section.Logging,
        Cli = ["--log-syslog"],
        Type = Scalars.Bool,
        Default = false,
        Doc = """
            Also send the error log (master and workers) and the access log to syslog at `syslog_addr`, as
            gunicorn does: `<PRI>gunicorn.PREFIX.error: LINE` and `gunicorn.PREFIX.access: LINE`. A syslog daemon
            that is down costs one warning on stderr; nothing waits for it.
            """,
    };

    public static readonly Setting<string> SyslogAddr = new()
    {
        Key = "syslog_addr",
        Section = Section.Logging,
        Cli = ["--log-syslog-to"],
        Meta = "SYSLOG_ADDR",
        Type = Scalars.Text,
        Default = "udp://localhost:514",
        Rules = [new Rule<string>(v => Gunicorn.Shared.Logging.SyslogAddress.TryParse(v, out _), v => $"\"{v}\" is not a syslog address.",
            "Use unix:///dev/log (#dgram or #stream after it), udp://HOST:PORT or tcp://HOST:PORT.")],
        Doc = """
            Where syslog listens: `unix://PATH#TYPE` (`TYPE` `dgram` or `stream`; without it a datagram socket is
            tried, then a stream, as Python's SysLogHandler does), `udp://HOST:PORT` or `tcp://HOST:PORT`. After a
            failure lines are dropped for 5 s before the next try.
            """,
    };

    public static readonly Setting<string?> SyslogPrefix = new()
    {
        Key = "syslog_prefix",
        Section = Section.Logging,
        Cli = ["--log-syslog-prefix"],
        Meta = "SYSLOG_PREFIX",
        Type = Scalars.OptionalText,
        Default = null,
        Doc = "The program name in syslog entries is `gunicorn.PREFIX.error` or `gunicorn.PREFIX.access`; unset: the process name (`proc_name`, else the app).",
    };

    public static readonly Setting<string> SyslogFacility = new()
    {
        Key = "syslog_facility",
        Section = Section.Logging,
        Cli = ["--log-syslog-facility"],
        Meta = "SYSLOG_FACILITY",
        Type = Scalars.Choice([.. Gunicorn.Shared.Logging.SyslogAddress.Facilities.Keys]),
        Default = "user",
        Doc = "The syslog facility: `user` (default), `daemon`, `local0` to `local7`, and the other standard names.",
    };

    public static readonly Setting<bool> DisableRedirectAccessToSyslog = new()
    {
        Key = "disable_redirect_access_to_syslog",
        Section = Section.Logging,
        Cli = ["--disable-redirect-access-to-syslog"],
        Type = Scalars.Bool,
        Default = false,
        Doc = "With `syslog`, keep the access log out of syslog (it still goes to `accesslog`).",
    };
}
