using System.Net.Sockets;

namespace Gunicorn.Tests.Infrastructure;

/// <summary>An HttpClient whose every connection goes to one Unix socket (a <c>unix:PATH</c> bind).</summary>
public static class UnixHttpClient
{
    public static HttpClient For(string path) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, token) =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), token);
            return new NetworkStream(socket, ownsSocket: true);
        },
    });
}
