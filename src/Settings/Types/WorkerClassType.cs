using Gunicorn.Settings.Registry;

namespace Gunicorn.Settings.Types;

/// <summary>The worker classes gunicorn-net has, with a useful answer for gunicorn's others.</summary>
public static class WorkerClassType
{
    public const string Sync = "sync";
    public const string GThread = "gthread";
    public const string Async = "async";

    private static readonly ValueType<string> Choice = Scalars.Choice(Sync, GThread, Async);

    private static readonly string[] GreenletClasses = ["gevent", "eventlet", "tornado", "uvicorn.workers.UvicornWorker"];

    public static readonly ValueType<string> Instance = Choice with
    {
        Parse = node =>
        {
            if (node is ScalarNode scalar && GreenletClasses.Contains(scalar.Text, StringComparer.OrdinalIgnoreCase))
            {
                throw new SettingValueException(
                    $"\"{scalar.Text}\" is a Python event-loop worker that gunicorn-net does not have. Use gthread for blocking apps or async for apps that await I/O.");
            }
            return Choice.Parse(node);
        },
    };
}
