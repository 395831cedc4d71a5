using Microsoft.AspNetCore.Http;

namespace Gunicorn.AspNetWorker;

/// <summary>
/// The client as the front saw it, carried to the worker in one request header (<c>ADDR PORT</c>) that the front
/// always sets itself, removing any copy a client sent. Both kinds of worker (gunicorn-net's own and an ASP.NET Core
/// app with this assembly injected) take it out of the request and make it the connection's remote address and
/// port, so apps see the real client as they would without a proxy (REMOTE_ADDR, REMOTE_PORT in WSGI). Compiled into
/// both assemblies (linked source): the injected assembly must not depend on gunicorn-net's others.
/// </summary>
internal static class FrontPeer
{
    public const string Header = "Gunicorn-Net-Peer";

    public static void Take(HttpContext context)
    {
        if (context.Request.Headers.Remove(Header, out var value) && TryParse(value.ToString(), out var ip, out var port))
        {
            context.Connection.RemoteIpAddress = ip;
            context.Connection.RemotePort = port;
        }
    }

    /// <summary>The header's value, <c>ADDR PORT</c>.</summary>
    public static bool TryParse(string? value, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out System.Net.IPAddress? address, out int port)
    {
        address = null;
        port = 0;
        return value?.Split(' ') is [var text, var number]
            && System.Net.IPAddress.TryParse(text, out address) && int.TryParse(number, out port);
    }
}
