using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Gunicorn.Backend.Arbiter;
using Gunicorn.Settings;
using Gunicorn.Settings.Output;
using Gunicorn.Settings.Records;

namespace Gunicorn.Front.Control;

/// <summary>
/// <c>gunicorn-net ctl status|workers|reload|scale N [--json]</c>: finds the control socket from the same settings
/// sources as the server (so <c>-c</c> and <c>--control-socket</c> work here too) and prints a table or JSON.
/// </summary>
public static class ControlClient
{
    public const string Usage = "usage: gunicorn-net ctl status|workers|reload|scale N [--json] [-c CONFIG] [--control-socket PATH]";

    public static async Task<int> RunAsync(string[] args)
    {
        var json = args.Contains("--json");
        var words = args.Where(a => !a.StartsWith('-')).ToList();
        var command = words.FirstOrDefault();
        if (command is not ("status" or "workers" or "reload" or "scale"))
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }
        int? argument = null;
        var rest = args.Where(a => a != "--json").ToList();
        rest.Remove(command);
        if (command == "scale")
        {
            var count = rest.FirstOrDefault(a => int.TryParse(a, NumberStyles.None, CultureInfo.InvariantCulture, out _));
            if (count is null)
            {
                Console.Error.WriteLine("ctl scale needs a worker count, e.g. gunicorn-net ctl scale 4");
                return 2;
            }
            argument = int.Parse(count, CultureInfo.InvariantCulture);
            rest.Remove(count);
        }
        var resolution = SettingsResolver.Resolve(ResolveRequest.FromProcess(rest));
        if (!resolution.IsValid)
        {
            Console.Error.Write(ConfigReport.Errors(resolution));
            return 1;
        }
        if (ConfigBinder.Bind(resolution.Settings!, resolution.ConfigSource).Process.ControlSocket is not { } path)
        {
            Console.Error.WriteLine("The control socket is disabled (control_socket_disable); remove that setting to use gunicorn-net ctl.");
            return 1;
        }
        string reply;
        try
        {
            reply = await ExchangeAsync(path, new ControlCommand(command, argument));
        }
        catch (SocketException e)
        {
            Console.Error.WriteLine($"Cannot reach the master at {path}: {e.Message}. Is gunicorn-net running from this directory, or is control_socket set elsewhere?");
            return 1;
        }
        Console.Out.Write(json ? reply : Render(command, reply));
        return 0;
    }

    private static async Task<string> ExchangeAsync(string path, ControlCommand command)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
        await using var stream = new NetworkStream(socket);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(command, ControlJson.Default.ControlCommand) + "\n"));
        using var reader = new StreamReader(stream);
        return (await reader.ReadLineAsync()) + "\n";
    }

    private static string Render(string command, string reply)
    {
        if (command is "reload" or "scale")
        {
            return reply;
        }
        var status = JsonSerializer.Deserialize(reply, ControlJson.Default.ArbiterStatus)!;
        var text = new StringBuilder();
        if (command == "status")
        {
            text.Append(CultureInfo.InvariantCulture, $"master pid {status.MasterPid}, {status.Workers.Count(w => w.State == "ready")} of {status.TargetWorkers} workers ready, serving generation {status.ServingGeneration}");
            text.Append(status.PendingGeneration is { } pending ? $", generation {pending} booting\n" : "\n");
            if (status.ShortOfWorkers is { } shortage)
            {
                text.Append(shortage).Append('\n');
            }
        }
        text.Append("PID      GEN  AGE  STATE      UPTIME  REQUESTS  IN-FLIGHT  WEBSOCKETS\n");
        foreach (var w in status.Workers)
        {
            text.Append(CultureInfo.InvariantCulture, $"{w.Pid,-8} {w.Generation,3}  {w.Age,3}  {w.State,-9} {w.UptimeSeconds,7:0.0}s {w.RequestsServed,9}  {w.InFlight,9}  {w.WebSockets,10}\n");
        }
        if (command == "status")
        {
            text.Append($"last exit:   {status.LastExit ?? "none"}\nlast reload: {status.LastReload ?? "none"}\n");
            if (status.FrontEventThreads > 0)
            {
                text.Append(CultureInfo.InvariantCulture, $"front:       {status.FrontEventThreads} event threads (front_threads)\n");
            }
            if (status.ClientLimits is { } limits)
            {
                text.Append($"limits:      {limits}\n");
            }
        }
        return text.ToString();
    }
}
