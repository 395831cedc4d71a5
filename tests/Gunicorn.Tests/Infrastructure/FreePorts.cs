using System.Net;
using System.Net.Sockets;

namespace Gunicorn.Tests.Infrastructure;

public static class FreePorts
{
    /// <summary>A loopback TCP port nothing listens on now (the kernel's pick, released at once).</summary>
    public static int Next()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    /// <summary>Whether something accepts connections on the loopback port.</summary>
    public static async Task<bool> IsListening(int port)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return false;
        }
    }
}
