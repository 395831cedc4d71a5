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
// Holds its thread, as a synchronous app does (a blocking database driver, Thread.Sleep).
app.MapGet("/block", (double seconds) =>
{
    Thread.Sleep(TimeSpan.FromSeconds(seconds));
    return $"blocked {seconds}s in {Environment.ProcessId}";
});
// The request body's length and a checksum, read as it streams in.
app.MapPost("/length", async (HttpRequest request) =>
{
    var buffer = new byte[65536];
    long length = 0, sum = 0;
    int read;
    while ((read = await request.Body.ReadAsync(buffer)) > 0)
    {
        length += read;
        for (var i = 0; i < read; i++)
        {
            sum += buffer[i];
        }
    }
    return $"{length} {sum}";
});
// The same, read the way old code does: blocking on each asynchronous read (sync-over-async).
app.MapPost("/length-blocking", (HttpRequest request) =>
{
    var buffer = new byte[65536];
    long length = 0, sum = 0;
    int read;
    while ((read = request.Body.ReadAsync(buffer).AsTask().Result) > 0)
    {
        length += read;
        for (var i = 0; i < read; i++)
        {
            sum += buffer[i];
        }
    }
    return $"{length} {sum}";
});
// n bytes of a known pattern (byte i is i % 251), written in 64 KiB pieces.
app.MapGet("/bytes", async (HttpResponse response, int n) =>
{
    response.ContentLength = n;
    var piece = new byte[65536];
    for (var sent = 0; sent < n; sent += piece.Length)
    {
        var size = Math.Min(piece.Length, n - sent);
        for (var i = 0; i < size; i++)
        {
            piece[i] = (byte)((sent + i) % 251);
        }
        await response.Body.WriteAsync(piece.AsMemory(0, size));
    }
});

app.Run();
