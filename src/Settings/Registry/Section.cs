namespace Gunicorn.Settings.Registry;

/// <summary>A group of settings, as in gunicorn's documentation; the order here is the order of the docs.</summary>
public sealed record Section(string Title, int Order, string Summary)
{
    public static readonly Section ConfigFile = new("Config File", 1, "Where the configuration comes from and how it is checked.");
    public static readonly Section Debugging = new("Debugging", 2, "Development helpers.");
    public static readonly Section Logging = new("Logging", 3, "The access log and the error log.");
    public static readonly Section ProcessNaming = new("Process Naming", 4, "How processes appear in ps and top.");
    public static readonly Section Ssl = new("SSL", 5, "TLS on the front tier's listeners.");
    public static readonly Section Security = new("Security", 6, "Request-line and header limits, enforced by the front tier.");
    public static readonly Section ServerHooks = new("Server Hooks", 7, "Commands or callables run at gunicorn's moments in the life of the master and its workers.");
    public static readonly Section ServerMechanics = new("Server Mechanics", 8, "Process settings, proxies and headers.");
    public static readonly Section ServerSocket = new("Server Socket", 9, "The listeners clients connect to.");
    public static readonly Section WorkerProcesses = new("Worker Processes", 10, "The pool of worker processes and how the master supervises it.");
    public static readonly Section FrontStatic = new("Front: Static Files", 11, "Files served by the front tier before anything is forwarded to a worker (nginx's `location` + `root`).");
    public static readonly Section FrontLimits = new("Front: Client Limits and Buffering", 12, "Protection against large and slow clients, formerly nginx's job.");
    public static readonly Section FrontHttp = new("Front: Compression, Redirects, Error Pages and Limits", 13, "What nginx's common directives did in front of gunicorn: gzip, HTTPS redirects and HSTS, error_page, limit_req and limit_conn.");
    public static readonly Section Instrumentation = new("Instrumentation", 14, "Metrics sent to StatsD.");
}
