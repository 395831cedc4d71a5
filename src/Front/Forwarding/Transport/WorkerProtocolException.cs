namespace Gunicorn.Front.Forwarding.Transport;

/// <summary>
/// A worker's response broke HTTP/1.1 (malformed head, bad chunk, more body than announced, a head too large). The
/// connection is never reused; the client gets 502, or a closed connection once its response has started.
/// </summary>
public sealed class WorkerProtocolException(string problem)
    : HttpRequestException(HttpRequestError.InvalidResponse, $"The worker sent {problem}.")
{
    public string Problem { get; } = problem;
}
