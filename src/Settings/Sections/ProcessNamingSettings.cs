using Gunicorn.Settings.Registry;
using Gunicorn.Settings.Types;

namespace Gunicorn.Settings.Sections;

public static class ProcessNamingSettings
{
    public static readonly Setting<string?> ProcName = new()
    {
        Key = "proc_name",
        Section = Section.ProcessNaming,
        Cli = ["-n", "--name"],
        Meta = "STRING",
        Type = Scalars.OptionalText,
        Default = null,
        Doc = """
            A name for the processes in ps and top: `gunicorn-net: master [NAME]` and `gunicorn-net: worker [NAME]`.
            Unset: the app's name. Linux keeps the first 15 bytes of a process name (/proc/PID/comm).
            """,
    };

    public static readonly Setting<string> DefaultProcName = new()
    {
        Key = "default_proc_name",
        Section = Section.ProcessNaming,
        Type = Scalars.Text,
        Default = "gunicorn",
        Doc = """
            The process name used when neither `proc_name` nor an app is given (gunicorn sets it for each kind of
            app; a config may set it too).
            """,
    };
}
