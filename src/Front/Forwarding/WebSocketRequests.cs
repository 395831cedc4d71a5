using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Gunicorn.Front.Forwarding;

/// <summary>
/// Requests that become duplex streams: an HTTP/1.1 Upgrade, or an HTTP/2 extended CONNECT (RFC 8441, how browsers
/// open WebSockets over HTTP/2; YARP turns it into an HTTP/1.1 upgrade to the worker). Neither is ever buffered.
/// </summary>
public static class WebSocketRequests
{
    public static bool IsDuplex(HttpContext context) =>
        context.Features.Get<IHttpUpgradeFeature>()?.IsUpgradableRequest == true
        || context.Features.Get<IHttpExtendedConnectFeature>()?.IsExtendedConnect == true;

    public static bool IsWebSocket(HttpContext context) =>
        context.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true } connect
            ? string.Equals(connect.Protocol, "websocket", StringComparison.OrdinalIgnoreCase)
            : context.Features.Get<IHttpUpgradeFeature>()?.IsUpgradableRequest == true
              && string.Equals(context.Request.Headers.Upgrade, "websocket", StringComparison.OrdinalIgnoreCase);
}
