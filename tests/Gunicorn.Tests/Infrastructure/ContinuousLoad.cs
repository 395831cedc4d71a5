namespace Gunicorn.Tests.Infrastructure;

/// <summary>A few clients sending GETs back to back until stopped, recording every failed request.</summary>
public sealed class ContinuousLoad
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<string> _failures = [];
    private readonly Task _running;
    private int _requests;

    private ContinuousLoad(HttpClient client, string path, int clients)
    {
        _running = Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                string? failure;
                try
                {
                    var response = await client.GetAsync(path);
                    failure = response.IsSuccessStatusCode ? null : $"{(int)response.StatusCode}";
                }
                catch (HttpRequestException e)
                {
                    failure = e.Message;
                }
                Interlocked.Increment(ref _requests);
                if (failure is not null)
                {
                    lock (_failures)
                    {
                        _failures.Add(failure);
                    }
                }
            }
        })));
    }

    public static ContinuousLoad Start(HttpClient client, string path = "/pid", int clients = 2) => new(client, path, clients);

    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Stops the clients and returns the failures seen while running.</summary>
    public async Task<IReadOnlyList<string>> StopAsync()
    {
        _stop.Cancel();
        await _running;
        lock (_failures)
        {
            return _failures.ToList();
        }
    }
}
