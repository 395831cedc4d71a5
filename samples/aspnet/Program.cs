var builder = WebApplication.CreateBuilder(args);
var app = builder.Build();

app.MapGet("/", () => "Hello from ASP.NET Core");
app.MapGet("/pid", () => Environment.ProcessId.ToString());
app.MapGet("/client", (HttpContext context) =>
    $"{context.Connection.RemoteIpAddress} {context.Connection.RemotePort} {context.Request.Headers.ContainsKey("Gunicorn-Net-Peer")}");
app.MapGet("/sleep", async (double seconds) =>
{
    await Task.Delay(TimeSpan.FromSeconds(seconds));
    return $"slept {seconds}s in {Environment.ProcessId}";
});

app.Run();
