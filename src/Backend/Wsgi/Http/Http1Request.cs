namespace Gunicorn.Backend.Wsgi.Http;

/// <summary>
/// One request as the front sent it to the worker. Strings are latin-1 decodings of the bytes on the wire, which is
/// what PEP 3333 asks environ values to be.
/// </summary>
public sealed class Http1Request
{
    public required string Method { get; init; }

    /// <summary>The request target exactly as sent (RAW_URI): path and query, still percent-encoded.</summary>
    public required string Target { get; init; }

    public required string Protocol { get; init; }

    /// <summary>Header fields in arrival order; a name may repeat.</summary>
    public required List<KeyValuePair<string, string>> Headers { get; init; }

    /// <summary>The request body, read in full before the app runs (the front has usually buffered it already).</summary>
    public byte[] Body { get; set; } = [];

    public bool HasBody { get; init; }

    /// <summary>False when the front (or a direct client) asked to close the connection after this response.</summary>
    public bool KeepAlive { get; init; }

    public bool IsHead => Method == "HEAD";

    public string? Header(string name)
    {
        foreach (var (key, value) in Headers)
        {
            if (key.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return value;
            }
        }
        return null;
    }
}

/// <summary>A request the worker cannot parse: answered with 400 and the connection closed.</summary>
public sealed class BadRequestException(string reason) : Exception(reason);
