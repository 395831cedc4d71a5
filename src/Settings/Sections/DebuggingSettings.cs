using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Types;

namespace Gunicorn.Settings.Sections;

public static class DebuggingSettings
{
    public static readonly Setting<bool> Reload = new()
    {
        Key = "reload",
        Section = Section.Debugging,
        Cli = ["--reload"],
        Type = Scalars.Bool,
        Default = false,
        Doc = """
            Restart workers when application code changes: imported Python modules, the app's assemblies, and the
            files named by `reload_extra_files`. Intended for development.
            """,
    };

    public static readonly Setting<IReadOnlyList<string>> ReloadExtraFiles = new()
    {
        Key = "reload_extra_files",
        Section = Section.Debugging,
        Cli = ["--reload-extra-file"],
        Meta = "FILES",
        Repeatable = true,
        Type = Collections.TextList,
        Default = [],
        Doc = "Extra files or globs (`**` allowed) to watch when `reload` is on; newly created matching files count too.",
    };

    public static readonly Setting<bool> Spew = new()
    {
        Key = "spew",
        Section = Section.Debugging,
        Cli = ["--spew"],
        Type = Scalars.Bool,
        Default = false,
        Status = SettingStatus.Unsupported(
            "it traces every executed Python line through sys.settrace; use `python3 -m trace` on the app, or dotnet-trace for the workers."),
        Doc = "gunicorn's line-by-line trace function.",
    };

    public static readonly Setting<bool> DotnetDiagnostics = new()
    {
        Key = "dotnet_diagnostics",
        Section = Section.Debugging,
        Cli = ["--dotnet-diagnostics"],
        Meta = "BOOL",
        Type = Scalars.Bool,
        Default = false,
        Doc = """
            Let the .NET runtime of unmodified ASP.NET Core workers (`App.dll`) open its diagnostics endpoint, for
            dotnet-counters, dotnet-trace and dotnet-dump. Off by default: each such process then makes a socket in
            the temporary directory that stays behind when the worker is killed. gunicorn-net's own processes are
            native and have none. gunicorn-net only.
            """,
    };

    public static readonly Setting<string> ReloadEngine = new()
    {
        Key = "reload_engine",
        Section = Section.Debugging,
        Cli = ["--reload-engine"],
        Meta = "STRING",
        Type = Scalars.Choice("auto", "inotify", "poll"),
        Default = "auto",
        Status = SettingStatus.Inherent("`reload` watches with inotify, which is what auto picks on Linux."),
        Rules = [new Rule<string>(v => v != "poll", _ => "polling is not offered: `reload` watches files with inotify.",
            "Use auto or inotify; on a filesystem without inotify events (NFS, some container mounts), restart with `gunicorn-net ctl reload` instead.")],
        Doc = "How `reload` watches files: `auto` and `inotify` both use inotify (Linux); `poll` is refused.",
    };
}
