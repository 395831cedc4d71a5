using Gunicorn.Front.Forwarding.Transport;

namespace Gunicorn.Front.Forwarding;

/// <summary>
/// The HTTP client to the workers: the forwarder's invoker over <see cref="WorkerHttpHandler"/>, the transport made for
/// local workers. Each worker is addressed as a host name of its own (<c>http://g1-w3</c>), mapped to its Unix socket.
/// </summary>
public sealed class WorkerSockets
{
    private readonly WorkerHttpHandler _handler = new();

    public WorkerSockets()
    {
        Client = new HttpMessageInvoker(_handler, disposeHandler: true);
    }

    public HttpMessageInvoker Client { get; }

    public void SetPaths(IEnumerable<KeyValuePair<string, string>> keyToPath) => _handler.SetPaths(keyToPath);
}

/// <summary>The worker left the routing table between being chosen and being connected to.</summary>
public sealed class WorkerGoneException(string key) : IOException($"Worker {key} is no longer in the routing table.");
