using System.Net;
using System.Text;
using Gunicorn.Shared.Logging;
using Gunicorn.Front.Forwarding;
using Microsoft.AspNetCore.Connections;

namespace Gunicorn.Front.Listeners;

/// <summary>
/// proxy_protocol: before TLS and HTTP, a connection may start with a PROXY header (v1 or v2). From a peer in
/// proxy_allow_ips it replaces the connection's addresses, so the access log, X-Forwarded-For and REMOTE_ADDR name
/// the real client; from any other peer it is refused with 403 (gunicorn's ForbiddenProxyRequest). A malformed header
/// gets 400 (InvalidProxyLine). A connection without one is plain HTTP, as gunicorn allows.
/// </summary>
public sealed class ProxyProtocolMiddleware(TrustedPeers allowed, TimeSpan headerTimeout)
{
    public async Task InvokeAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        if (await ReadHeaderAsync(connection) is not { } refusal)
        {
            await next(connection);
            return;
        }
        ErrorLog.Info($"Refused a PROXY protocol header from {connection.RemoteEndPoint}: {refusal.Reason}");
        var body = refusal.Reason + "\n";
        var response = $"HTTP/1.1 {refusal.Status} {(refusal.Status == 403 ? "Forbidden" : "Bad Request")}\r\n" +
                       $"Connection: close\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\n\r\n{body}";
        await connection.Transport.Output.WriteAsync(Encoding.ASCII.GetBytes(response));
        await connection.Transport.Output.CompleteAsync();
    }

    /// <summary>Null when the connection may go on (with or without a header); otherwise the refusal.</summary>
    private async Task<(int Status, string Reason)?> ReadHeaderAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
        deadline.CancelAfter(headerTimeout);
        var started = false;
        while (true)
        {
            System.IO.Pipelines.ReadResult read;
            try
            {
                read = await input.ReadAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                // Kestrel's own header timeout answers a client that sent nothing; one that began a PROXY header and
                // did not finish it within the same time is answered here (handing it on would give it that time again).
                return started && !connection.ConnectionClosed.IsCancellationRequested
                    ? (400, $"incomplete PROXY protocol header after client_header_timeout ({headerTimeout.TotalSeconds:0.#} s)")
                    : null;
            }
            var buffer = read.Buffer;
            var status = ProxyProtocolHeader.TryParse(buffer, out var length, out var addresses, out var error);
            switch (status)
            {
                case ProxyProtocolHeader.Status.NeedMore when !read.IsCompleted:
                    started |= !buffer.IsEmpty;
                    input.AdvanceTo(buffer.Start, buffer.End);
                    continue;
                case ProxyProtocolHeader.Status.NeedMore:
                    input.AdvanceTo(buffer.Start, buffer.End);
                    return (400, "incomplete PROXY protocol header");
                case ProxyProtocolHeader.Status.Absent:
                    input.AdvanceTo(buffer.Start);
                    return null;
                case ProxyProtocolHeader.Status.Invalid:
                    input.AdvanceTo(buffer.End);
                    return (400, $"invalid PROXY protocol header: {error}");
            }
            input.AdvanceTo(buffer.GetPosition(length));
            if (!allowed.Trusts((connection.RemoteEndPoint as IPEndPoint)?.Address))
            {
                return (403, $"peer {connection.RemoteEndPoint} is not in proxy_allow_ips");
            }
            if (addresses!.Source is { } source)
            {
                connection.RemoteEndPoint = source;
                connection.LocalEndPoint = addresses.Destination;
            }
            return null;
        }
    }
}
