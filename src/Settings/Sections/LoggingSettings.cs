using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Types;

namespace Gunicorn.Settings.Sections;

public static class LoggingSettings
{
    /// <summary>gunicorn's default access log format.</summary>
    public const string DefaultAccessLogFormat = "%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\"";

    public static readonly Setting<string?> AccessLog = new()
    {
        Key = "accesslog",
        Section = Section.Logging,
        Cli = ["--access-logfile"],
        Meta = "FILE",
        Type = Scalars.OptionalText,
        Default = null,
        Doc = "The access log file; `-` means stdout. Unset: no access log. Written by the front tier, reopened on USR1.",
    };

    public static readonly Setting<string> AccessLogFormat = new()
    {
        Key = "access_log_format",
        Section = Section.Logging,
        Cli = ["--access-logformat"],
        Meta = "STRING",
        Type = Types.AccessLogFormat.Type,
        Default = DefaultAccessLogFormat,
        Doc = """
            The access log format, with gunicorn's atoms: h l u t r m U q H s B b f a T D M L p, {header}i,
            {header}o and {variable}e, each written as `%(atom)s`. Unknown atoms are a configuration error.
            """,
    };

    public static readonly Setting<string> ErrorLog = new()
    {
        Key = "errorlog",
        Section = Section.Logging,
        Cli = ["--error-logfile", "--log-file"],
        Meta = "FILE",
        Type = Scalars.Text,
        Default = "-",
        Doc = "The error log file; `-` means stderr. Reopened on USR1.",
    };

    public static readonly Setting<string> LogLevel = new()
    {
        Key = "loglevel",
        Section = Section.Logging,
        Cli = ["--log-level"],
        Meta = "LEVEL",
        Type = Scalars.Choice("debug", "info", "warning", "error", "critical"),
        Default = "info",
        Doc = "The granularity of error log output: debug, info, warning, error or critical.",
    };

    public static readonly Setting<bool> CaptureOutput = new()
    {
        Key = "capture_output",
        Section = Section.Logging,
        Cli = ["--capture-output"],
        Type = Scalars.Bool,
        Default = false,
        Doc = "Redirect the workers' stdout and stderr (the app's print statements) to the error log.",
    };

    public static readonly Setting<string> LoggerClass = new()
    {
        Key = "logger_class",
        Section = Section.Logging,
        Cli = ["--logger-class"],
        Meta = "STRING",
        Type = Scalars.Text,
        Default = "gunicorn.glogging.Logger",
        Status = SettingStatus.Unsupported(
            "the master is a .NET process and cannot load a Python logger class; use accesslog, errorlog and access_log_format."),
        Doc = "gunicorn's Python logger class.",
    };

    public static readonly Setting<string?> LogConfig = new()
    {
        Key = "logconfig",
        Section = Section.Logging,
        Cli = ["--log-config"],
        Meta = "FILE",
        Type = Scalars.OptionalText,
        Default = null,
        Status = SettingStatus.Unsupported(
            "it names a Python logging.config file, which the .NET master cannot read; use errorlog, loglevel and accesslog."),
        Doc = "gunicorn's Python logging configuration file.",
    };

    public static readonly Setting<bool> EnableStdioInheritance = new()
    {
        Key = "enable_stdio_inheritance",
        Section = Section.Logging,
        Cli = ["-R", "--enable-stdio-inheritance"],
        Type = Scalars.Bool,
        Default = false,
        Doc = "With `daemon`, keep stdout and stderr instead of sending them to /dev/null (the error log to `-` then still reaches the caller's terminal or file).",
    };
}
