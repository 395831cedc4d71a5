using Gunicorn.Worker.Http;

namespace Gunicorn.Worker.Server;

/// <summary>What answers requests on a worker's connections: a WSGI app, or a built-in app.</summary>
internal interface IRequestHandler
{
    /// <summary>
    /// Answers the request whose head <paramref name="connection"/> has just read, on a serving thread (holding the
    /// GIL for a Python app), writing the whole response through <paramref name="response"/>, which has begun.
    /// Throws <see cref="ConnectionLostException"/> when the front went away.
    /// </summary>
    void Serve(Http1Connection connection, ResponseWriter response);
}
