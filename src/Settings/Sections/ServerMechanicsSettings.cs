using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Types;

namespace Gunicorn.Settings.Sections;

public static class ServerMechanicsSettings
{
    public static readonly Setting<bool> PreloadApp = new()
    {
        Key = "preload_app",
        Section = Section.ServerMechanics,
        Cli = ["--preload"],
        Type = Scalars.Bool,
        Default = false,
        Status = SettingStatus.Unsupported(
            ".NET cannot fork a process with a loaded app; every worker is a fresh process that loads the app itself. Remove it."),
        Doc = "gunicorn's load-the-app-before-fork.",
    };

    public static readonly Setting<bool> Sendfile = new()
    {
        Key = "sendfile",
        Section = Section.ServerMechanics,
        Cli = ["--no-sendfile"],
        FlagValue = "false",
        Type = Scalars.Bool,
        Default = true,
        Doc = "Use sendfile(2): for static files where the front tier has a zero-copy path, and for a `wsgi.file_wrapper` over a real file in WSGI workers. `--no-sendfile` turns it off (a read loop instead).",
    };

    public static readonly Setting<string> Chdir = new()
    {
        Key = "chdir",
        Section = Section.ServerMechanics,
        Cli = ["--chdir"],
        Meta = "DIR",
        Type = Scalars.Text,
        Default = ".",
        Doc = "Change to this directory before loading the app (where `module:callable` is imported from).",
    };

    public static readonly Setting<bool> Daemon = new()
    {
        Key = "daemon",
        Section = Section.ServerMechanics,
        Cli = ["-D", "--daemon"],
        Type = Scalars.Bool,
        Default = false,
        Doc = "Detach from the terminal: the master re-executes itself in a new session (.NET cannot fork) and the first process exits.",
    };

    public static readonly Setting<IReadOnlyList<string>> RawEnv = new()
    {
        Key = "raw_env",
        Section = Section.ServerMechanics,
        Cli = ["-e", "--env"],
        Meta = "ENV",
        Repeatable = true,
        Type = EnvironmentEntryType.Instance,
        Default = [],
        Doc = "Environment variables for the master and the workers, as `KEY=VALUE` items.",
    };

    public static readonly Setting<string?> PidFile = new()
    {
        Key = "pidfile",
        Section = Section.ServerMechanics,
        Cli = ["-p", "--pid"],
        Meta = "FILE",
        Type = Scalars.OptionalText,
        Default = null,
        Doc = "Write the master's pid to this file; removed on exit.",
    };

    public static readonly Setting<string?> WorkerTmpDir = new()
    {
        Key = "worker_tmp_dir",
        Section = Section.ServerMechanics,
        Cli = ["--worker-tmp-dir"],
        Meta = "DIR",
        Type = Scalars.OptionalText,
        Default = null,
        Doc = """
            Where the private runtime directory with the workers' Unix sockets is created. Unset: $XDG_RUNTIME_DIR or
            /tmp. Heartbeats never touch the filesystem (they use a pipe), so a slow disk cannot cause a WORKER TIMEOUT.
            """,
    };

    public static readonly Setting<string?> User = new()
    {
        Key = "user",
        Section = Section.ServerMechanics,
        Cli = ["-u", "--user"],
        Meta = "USER",
        Type = Scalars.OptionalText,
        Default = null,
        Doc = "Run the workers as this user (name or uid). Unset: the master's user. Needs a master started as root; a reload cannot change it (restart, or USR2).",
    };

    public static readonly Setting<string?> Group = new()
    {
        Key = "group",
        Section = Section.ServerMechanics,
        Cli = ["-g", "--group"],
        Meta = "GROUP",
        Type = Scalars.OptionalText,
        Default = null,
        Doc = "Run the workers as this group (name or gid). Unset: the master's group. A reload cannot change it (restart, or USR2).",
    };

    public static readonly Setting<int> Umask = new()
    {
        Key = "umask",
        Section = Section.ServerMechanics,
        Cli = ["-m", "--umask"],
        Meta = "INT",
        Type = Quantities.Octal,
        Default = 0,
        Rules = [Rules.AtLeast(0), Rules.AtMost(511, "A umask has three octal digits, at most 0o777.")],
        Doc = "The file mode creation mask of the master and workers, e.g. `0o022`.",
    };

    public static readonly Setting<bool> InitGroups = new()
    {
        Key = "initgroups",
        Section = Section.ServerMechanics,
        Cli = ["--initgroups"],
        Type = Scalars.Bool,
        Default = false,
        Doc = "Give the workers all the supplementary groups of `user`.",
    };

    public static readonly Setting<IReadOnlyList<string>> PythonPath = new()
    {
        Key = "pythonpath",
        Section = Section.ServerMechanics,
        Cli = ["--pythonpath"],
        Meta = "STRING",
        Type = Collections.CommaList,
        Default = [],
        Doc = "Directories added to the Python path of WSGI workers, comma-separated or a list.",
    };

    public static readonly Setting<string> ControlSocket = new()
    {
        Key = "control_socket",
        Section = Section.ServerMechanics,
        Cli = ["--control-socket"],
        Meta = "PATH",
        Type = Scalars.Text,
        Default = "gunicorn-net.ctl",
        Doc = """
            The master's control socket (mode 0600), used by `gunicorn-net ctl status|workers|reload|scale N`. A
            relative path is relative to the working directory; `gunicorn-net ctl` resolves it from the same config
            file and flags as the server.
            """,
    };

    public static readonly Setting<string> Python = new()
    {
        Key = "python",
        Section = Section.ServerMechanics,
        Cli = ["--python"],
        Meta = "PATH",
        Type = Scalars.Text,
        Default = "python3",
        EnvDefault = "VIRTUAL_ENV",
        // An activated virtualenv is where gunicorn would have been installed and run from.
        DefaultFromEnvironment = env => env["VIRTUAL_ENV"] is { Length: > 0 } venv ? Path.Combine(venv, "bin", "python") : null,
        Doc = """
            The Python interpreter whose shared libpython the WSGI workers embed, with its packages: a virtualenv's
            `bin/python` works. Default `python3` on PATH, or `$VIRTUAL_ENV/bin/python` when VIRTUAL_ENV is set (an
            activated virtualenv). gunicorn-net only: gunicorn runs inside its interpreter.
            """,
    };

    public static readonly Setting<int> ControlSocketMode = new()
    {
        Key = "control_socket_mode",
        Section = Section.ServerMechanics,
        Cli = ["--control-socket-mode"],
        Meta = "INT",
        Type = Quantities.Octal,
        Default = Convert.ToInt32("600", 8),
        Rules = [new Rule<int>(v => v is >= 0 and <= 511, v => $"{Convert.ToString(v, 8)} is not a file mode.", "Give an octal mode such as 0600 or 0660.")],
        Doc = "The control socket's file mode (octal, default 0600: the master's user only). 0660 lets the socket's group run `gunicorn-net ctl`.",
    };

    public static readonly Setting<bool> ControlSocketDisable = new()
    {
        Key = "control_socket_disable",
        Section = Section.ServerMechanics,
        Cli = ["--no-control-socket"],
        Type = Scalars.Bool,
        Default = false,
        Doc = "Open no control socket: `gunicorn-net ctl` cannot reach this master (signals still work).",
    };

    public static readonly Setting<string?> TmpUploadDir = new()
    {
        Key = "tmp_upload_dir",
        Section = Section.ServerMechanics,
        Type = Scalars.OptionalText,
        Default = null,
        Doc = """
            Where the front tier spills request bodies that outgrow `request_buffer_size` while it buffers them
            (nginx's client_body_temp_path). Unset: the system's temporary directory ($TMPDIR or /tmp). A spill that
            cannot be written there is answered 507 and logged with the path.
            """,
    };

    public static readonly Setting<bool> CasefoldHttpMethod = new()
    {
        Key = "casefold_http_method",
        Section = Section.ServerMechanics,
        Cli = ["--casefold-http-method"],
        Type = Scalars.Bool,
        Default = false,
        Doc = "Upper-case request methods before anything checks them (`get` becomes `GET`); off: a lowercase method is refused with 400 unless `permit_unconventional_http_method`.",
    };
}
