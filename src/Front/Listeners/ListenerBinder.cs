using System.Net;
using Gunicorn.Settings.Records;
using Gunicorn.Settings.Types;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Gunicorn.Front.Listeners;

/// <summary>Opens one Kestrel listener per bind address.</summary>
public static class ListenerBinder
{
    public static void Bind(KestrelServerOptions kestrel, BindAddress bind, GunicornConfig config)
    {
        switch (bind.Kind)
        {
            case BindKind.Unix:
                kestrel.ListenUnixSocket(bind.Path, listen => ConnectionPipeline.Apply(listen, config));
                break;
            case BindKind.FileDescriptor:
                kestrel.ListenHandle((ulong)bind.Fd, listen => ConnectionPipeline.Apply(listen, config));
                break;
            default:
                kestrel.Listen(ResolveHost(bind.Host), bind.Port, listen => ConnectionPipeline.Apply(listen, config));
                break;
        }
    }

    private static IPAddress ResolveHost(string host) =>
        host == "localhost" ? IPAddress.Loopback
        : IPAddress.TryParse(host, out var address) ? address
        : Dns.GetHostAddresses(host).First();
}
