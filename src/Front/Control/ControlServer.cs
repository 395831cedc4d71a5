using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Gunicorn.Backend.Arbiter;
using Gunicorn.Shared.Logging;

namespace Gunicorn.Front.Control;

/// <summary>
/// The master's control socket (mode 0600): one JSON request line in, one JSON reply line out. Requests are answered
/// on the arbiter loop, so what `ctl` sees is one consistent moment.
/// </summary>
public sealed class ControlServer : IAsyncDisposable
{
    private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    private readonly CancellationTokenSource _stop = new();
    private readonly string _path;
    private readonly DateTime _boundAt;
    private readonly Task _accepting;

    public ControlServer(string path, UnixFileMode mode, ChannelWriter<ArbiterEvent> arbiter)
    {
        _path = path;
        // Replaces a socket left by a master that was killed, or the old master's after USR2.
        _boundAt = Listeners.UnixSocketFile.BindAndListen(_listener, path, 16, mode);
        _accepting = AcceptLoopAsync(arbiter);
    }

    private async Task AcceptLoopAsync(ChannelWriter<ArbiterEvent> arbiter)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            _ = ServeAsync(client, arbiter, _stop.Token);
        }
    }

    /// <summary>One request, one answer; a client that sends nothing for 10 s (or a master that stops) ends it.</summary>
    private static async Task ServeAsync(Socket client, ChannelWriter<ArbiterEvent> arbiter, CancellationToken stopping)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        deadline.CancelAfter(TimeSpan.FromSeconds(10));
        using (client)
        await using (var stream = new NetworkStream(client))
        using (var reader = new StreamReader(stream, Encoding.UTF8))
        {
            try
            {
                var line = await reader.ReadLineAsync(deadline.Token);
                var request = JsonSerializer.Deserialize(line ?? "{}", ControlJson.Default.ControlCommand) ?? new ControlCommand("status", null);
                var reply = new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously);
                await arbiter.WriteAsync(new ControlRequest(request.Command, request.Argument, reply), deadline.Token);
                var answer = await reply.Task.WaitAsync(deadline.Token);
                await stream.WriteAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(answer, answer.GetType(), ControlJson.Default) + "\n"), deadline.Token);
            }
            catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
            {
                ErrorLog.Warning("Control socket request failed: no complete request or answer within 10 s");
            }
            catch (OperationCanceledException)
            {
                // The master is stopping.
            }
            catch (Exception e) when (e is IOException or JsonException)
            {
                ErrorLog.Warning($"Control socket request failed: {e.Message}");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        await _accepting;
        // Only our own socket: after USR2 the new master has bound a fresh one at the same path.
        Listeners.UnixSocketFile.RemoveIfOurs(_path, _boundAt);
    }
}

/// <summary>A control request: status, workers, reload, or scale with a worker count.</summary>
public sealed record ControlCommand(string Command, int? Argument);

/// <summary>The control protocol's JSON (camelCase), source-generated: no reflection in a native build.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ControlCommand))]
[JsonSerializable(typeof(ArbiterStatus))]
[JsonSerializable(typeof(ReloadReply))]
[JsonSerializable(typeof(ScaleReply))]
public sealed partial class ControlJson : JsonSerializerContext;
