using System.Collections.Concurrent;

namespace Gunicorn.AspNetWorker;

/// <summary>
/// Watches the front's connections whose receiving thread is inside Kestrel and the app. One held there for more
/// than <see cref="Patience"/> may be the app waiting for more of its own request (sync-over-async on a body read,
/// a blocking WebSocket receive), which only that thread would read: a new thread takes over the receiving. A
/// request that is merely slow costs one more thread for its duration. One timer for the process.
/// </summary>
internal static class ReceiverHandover
{
    private static readonly TimeSpan Patience = TimeSpan.FromMilliseconds(200);
    private static readonly ConcurrentDictionary<FrontSocketConnection, byte> Connections = new();
    private static readonly Timer Check = new(_ => HandOver(), null, Patience / 2, Patience / 2);

    public static void Watch(FrontSocketConnection connection) => Connections.TryAdd(connection, 0);

    public static void Forget(FrontSocketConnection connection) => Connections.TryRemove(connection, out _);

    private static void HandOver()
    {
        var heldSince = Environment.TickCount64 - (long)Patience.TotalMilliseconds;
        foreach (var connection in Connections.Keys)
        {
            connection.HandOverIfHeldSince(heldSince);
        }
    }
}
