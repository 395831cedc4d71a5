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
}
