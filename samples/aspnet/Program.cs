var builder = WebApplication.CreateBuilder(args);
var app = builder.Build();

app.MapGet("/", () => "Hello from ASP.NET Core");
app.MapGet("/pid", () => Environment.ProcessId.ToString());
app.MapGet("/sleep", async (double seconds) =>
{
    await Task.Delay(TimeSpan.FromSeconds(seconds));
    return $"slept {seconds}s in {Environment.ProcessId}";
});

app.Run();
