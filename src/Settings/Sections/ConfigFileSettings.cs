using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Types;

namespace Gunicorn.Settings.Sections;

public static class ConfigFileSettings
{
    public static readonly Setting<string?> Config = new()
    {
        Key = "config",
        Section = Section.ConfigFile,
        Cli = ["-c", "--config"],
        Meta = "CONFIG",
        Type = Scalars.OptionalText,
        Default = null,
        Doc = """
            The YAML configuration file to load. Without it, `./gunicorn.yaml` is used when present, otherwise the
            built-in default configuration (config/gunicorn.yaml of the source tree). Only valid on the command line
            or in GUNICORN_CMD_ARGS.
            """,
    };

    public static readonly Setting<string?> WsgiApp = new()
    {
        Key = "wsgi_app",
        Section = Section.ConfigFile,
        Type = Scalars.OptionalText,
        Default = null,
        Doc = """
            The application to run, as gunicorn's positional APP argument: `module:callable` (or `module`, meaning
            `module:application`, or `module:factory()`) for a Python WSGI app, or `path/to/App.dll` for an unmodified
            ASP.NET Core app. The positional APP argument overrides this key. Unset: the built-in hello app.
            """,
    };

    public static readonly Setting<bool> CheckConfig = new()
    {
        Key = "check_config",
        Section = Section.ConfigFile,
        Cli = ["--check-config"],
        Type = Scalars.Bool,
        Default = false,
        Doc = "Check the configuration, print every error found and exit: 0 when valid, 1 otherwise. Nothing is started.",
    };

    public static readonly Setting<bool> PrintConfig = new()
    {
        Key = "print_config",
        Section = Section.ConfigFile,
        Cli = ["--print-config"],
        Type = Scalars.Bool,
        Default = false,
        Doc = "Print the resolved configuration as YAML, each value followed by where it came from, and exit.",
    };
}
