using System.Net.Sockets;
using System.Text;

namespace Gunicorn.Tests.Front.Transport;

/// <summary>
/// A Unix-socket peer that plays a worker from a script: each accepted connection runs the script with a session that
/// reads whole requests (head and body, by Content-Length or chunks) and sends whatever bytes the test chooses, well
/// formed or not. Counts connections so tests can see reuse.
/// </summary>
internal sealed class ScriptedWorker : IAsyncDisposable
{
    private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    private readonly Func<Session, Task> _script;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _sessions = [];
    private readonly Task _accepting;
    private int _accepted;

    public ScriptedWorker(Func<Session, Task> script)
    {
        _script = script;
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"gn-scripted-{Guid.NewGuid():N}.sock");
        _listener.Bind(new UnixDomainSocketEndPoint(Path));
        _listener.Listen(16);
        _accepting = AcceptAsync();
    }

    public string Path { get; }

    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>Every request read, in arrival order, as text (head and body).</summary>
    public List<string> Requests { get; } = [];

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            var index = Interlocked.Increment(ref _accepted);
            lock (_sessions)
            {
                _sessions.Add(RunAsync(new Session(this, socket, index)));
            }
        }
    }

    private async Task RunAsync(Session session)
    {
        try
        {
            await _script(session);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            session.Close();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        await _accepting;
        Task[] sessions;
        lock (_sessions)
        {
            sessions = [.. _sessions];
        }
        await Task.WhenAll(sessions).WaitAsync(TimeSpan.FromSeconds(10));
        File.Delete(Path);
    }

    internal sealed class Session(ScriptedWorker worker, Socket socket, int index)
    {
        private readonly List<byte> _buffer = [];

        /// <summary>Which accepted connection this is (1 for the first).</summary>
        public int Index { get; } = index;

        /// <summary>The next whole request, or null when the front closed the connection.</summary>
        public async Task<string?> ReadRequestAsync()
        {
            var headEnd = await FillUntilAsync(data => IndexOf(data, "\r\n\r\n"u8) is var i and >= 0 ? i + 4 : -1);
            if (headEnd < 0)
            {
                return null;
            }
            var head = Encoding.Latin1.GetString(_buffer.GetRange(0, headEnd).ToArray());
            _buffer.RemoveRange(0, headEnd);
            var body = "";
            if (Header(head, "Content-Length") is { } length)
            {
                var count = int.Parse(length);
                await FillUntilAsync(data => data.Length >= count ? count : -1);
                body = Take(count);
            }
            else if (Header(head, "Transfer-Encoding") == "chunked")
            {
                var end = await FillUntilAsync(data => IndexOf(data, "0\r\n\r\n"u8) is var i and >= 0 && (i == 0 || data[i - 1] == '\n') ? i + 5 : -1);
                body = Take(end);
            }
            var request = head + body;
            lock (worker.Requests)
            {
                worker.Requests.Add(request);
            }
            return request;
        }

        public Task SendAsync(string text) => SendAsync(Encoding.Latin1.GetBytes(text));

        public async Task SendAsync(byte[] bytes) => await socket.SendAsync(bytes, SocketFlags.None);

        /// <summary>Reads whatever bytes arrive next (an upgraded connection's traffic).</summary>
        public async Task<string> ReceiveSomeAsync()
        {
            if (_buffer.Count == 0)
            {
                var chunk = new byte[4096];
                var read = await socket.ReceiveAsync(chunk, SocketFlags.None);
                return Encoding.Latin1.GetString(chunk, 0, read);
            }
            return Take(_buffer.Count);
        }

        public void Close() => socket.Dispose();

        private string Take(int count)
        {
            var text = Encoding.Latin1.GetString(_buffer.GetRange(0, count).ToArray());
            _buffer.RemoveRange(0, count);
            return text;
        }

        private async Task<int> FillUntilAsync(Func<byte[], int> found)
        {
            var chunk = new byte[4096];
            while (true)
            {
                if (found([.. _buffer]) is var at and >= 0)
                {
                    return at;
                }
                var read = await socket.ReceiveAsync(chunk, SocketFlags.None);
                if (read == 0)
                {
                    return -1;
                }
                _buffer.AddRange(chunk.AsSpan(0, read));
            }
        }

        private static int IndexOf(byte[] data, ReadOnlySpan<byte> value) => data.AsSpan().IndexOf(value);

        private static string? Header(string head, string name)
        {
            foreach (var line in head.Split("\r\n"))
            {
                if (line.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase))
                {
                    return line[(name.Length + 1)..].Trim();
                }
            }
            return null;
        }
    }
}
