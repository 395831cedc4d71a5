var builder = WebApplication.CreateBuilder(args);
var app = builder.Build();

app.UseWebSockets();

app.MapGet("/", () => "Hello from ASP.NET Core");
// A WebSocket echo: each text message comes back prefixed, until the client closes.
app.Map("/ws", async (HttpContext context) =>
{
    if (!context.WebSockets.IsWebSocketRequest)
    {
        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        return;
    }
    using var socket = await context.WebSockets.AcceptWebSocketAsync();
    var buffer = new byte[4096];
    while (true)
    {
        var received = await socket.ReceiveAsync(buffer, context.RequestAborted);
        if (received.MessageType == System.Net.WebSockets.WebSocketMessageType.Close)
        {
            await socket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, "bye", context.RequestAborted);
            return;
        }
        var reply = System.Text.Encoding.UTF8.GetBytes("echo: " + System.Text.Encoding.UTF8.GetString(buffer, 0, received.Count));
        await socket.SendAsync(reply, System.Net.WebSockets.WebSocketMessageType.Text, true, context.RequestAborted);
    }
});
app.MapGet("/pid", () => Environment.ProcessId.ToString());
app.MapGet("/client", (HttpContext context) =>
    $"{context.Connection.RemoteIpAddress} {context.Connection.RemotePort} {context.Request.Headers.ContainsKey("Gunicorn-Net-Peer")}");
app.MapGet("/sleep", async (double seconds) =>
{
    await Task.Delay(TimeSpan.FromSeconds(seconds));
    return $"slept {seconds}s in {Environment.ProcessId}";
});

app.Run();
