using Gunicorn.Settings.Registry;

namespace Gunicorn.Settings.Types;

/// <summary>The worker classes gunicorn-net has, with a useful answer for gunicorn's others.</summary>
public static class WorkerClassType
{
    public const string Sync = "sync";
    public const string GThread = "gthread";
    public const string Async = "async";
    public const string Asgi = "asgi";

    /// <summary>The uvicorn worker classes gunicorn configs name: the same thing as <see cref="Asgi"/> here.</summary>
    public static readonly string[] UvicornClasses = ["uvicorn.workers.UvicornWorker", "uvicorn.workers.UvicornH11Worker", "uvicorn_worker.UvicornWorker"];

    private static readonly ValueType<string> Choice = Scalars.Choice([Sync, GThread, Async, Asgi, .. UvicornClasses]);

    private static readonly string[] GreenletClasses = ["gevent", "eventlet", "tornado"];

    public static readonly ValueType<string> Instance = Choice with
    {
        Parse = node =>
        {
            if (node is ScalarNode scalar && GreenletClasses.Contains(scalar.Text, StringComparer.OrdinalIgnoreCase))
            {
                throw new SettingValueException(
                    $"\"{scalar.Text}\" is a greenlet worker that gunicorn-net does not have. Use gthread (threads: N) for a WSGI app that blocks on I/O, or asgi for an ASGI app.");
            }
            return Choice.Parse(node);
        },
    };
}
