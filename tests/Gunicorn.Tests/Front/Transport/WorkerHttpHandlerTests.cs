using System.Net;
using System.Text;
using Gunicorn.Front.Forwarding;
using Gunicorn.Front.Forwarding.Transport;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Front.Transport;

/// <summary>
/// The front's transport to the workers against a scripted Unix-socket peer: keep-alive reuse, one request per
/// connection at a time, chunked bodies and trailers, interim responses, upgrades, and every malformed response
/// refused without the connection ever being reused.
/// </summary>
public sealed class WorkerHttpHandlerTests : IAsyncDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    private const string Ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    private readonly WorkerHttpHandler _handler = new();
    private readonly HttpMessageInvoker _client;
    private ScriptedWorker? _worker;

    public WorkerHttpHandlerTests()
    {
        _client = new HttpMessageInvoker(_handler, disposeHandler: true);
    }

    private ScriptedWorker Worker(Func<ScriptedWorker.Session, Task> script)
    {
        _worker = new ScriptedWorker(script);
        _handler.SetPaths([KeyValuePair.Create("w1", _worker.Path)]);
        return _worker;
    }

    /// <summary>A script that answers every request on the connection with the same bytes.</summary>
    private static Func<ScriptedWorker.Session, Task> AnswerEach(string response) => async session =>
    {
        while (await session.ReadRequestAsync() is not null)
        {
            await session.SendAsync(response);
        }
    };

    private async Task<(HttpResponseMessage Response, string Body)> SendAsync(HttpMethod method, string path = "/", HttpContent? content = null)
    {
        var response = await _client.SendAsync(new HttpRequestMessage(method, "http://w1" + path) { Content = content }, CancellationToken.None)
            .WaitAsync(Deadline);
        var body = await response.Content.ReadAsStringAsync().WaitAsync(Deadline);
        return (response, body);
    }

    [Fact]
    public async Task KeptAliveConnection_CarriesTheNextRequest()
    {
        var worker = Worker(AnswerEach(Ok));
        for (var i = 0; i < 3; i++)
        {
            var (response, body) = await SendAsync(HttpMethod.Get, $"/n{i}?q=1");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("ok", body);
        }
        Assert.Equal(1, worker.Accepted);
        Assert.Equal(1, _handler.IdleConnections("w1"));
        Assert.StartsWith("GET /n2?q=1 HTTP/1.1\r\nHost: w1\r\n", worker.Requests[2]);
    }

    [Fact]
    public async Task ConcurrentRequests_NeverShareAConnection()
    {
        var firstArrived = new TaskCompletionSource();
        var releaseFirst = new TaskCompletionSource();
        var worker = Worker(async session =>
        {
            while (await session.ReadRequestAsync() is { } request)
            {
                if (request.StartsWith("GET /slow"))
                {
                    firstArrived.TrySetResult();
                    await releaseFirst.Task;
                }
                await session.SendAsync($"HTTP/1.1 200 OK\r\nContent-Length: {session.Index}\r\n\r\n{new string('x', session.Index)}");
            }
        });
        var slow = SendAsync(HttpMethod.Get, "/slow");
        await firstArrived.Task.WaitAsync(Deadline);
        // The first connection is busy with a request whose answer has not come: the second gets a connection of its own.
        var (_, fastBody) = await SendAsync(HttpMethod.Get, "/fast");
        releaseFirst.SetResult();
        var (_, slowBody) = await slow;
        Assert.Equal(2, worker.Accepted);
        Assert.Equal("x", slowBody);
        Assert.Equal("xx", fastBody);
        Assert.Equal(2, _handler.IdleConnections("w1"));
    }

    [Fact]
    public async Task ChunkedRequestAndResponse_WithTrailers()
    {
        var worker = Worker(AnswerEach(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Checksum: abc\r\n\r\n"));
        var upload = new StreamContent(new UnknownLengthStream("part one, part two"));
        var (response, body) = await SendAsync(HttpMethod.Post, "/upload", upload);
        Assert.Equal("hello, world", body);
        Assert.Equal("abc", Assert.Single(response.TrailingHeaders.GetValues("X-Checksum")));
        var request = Assert.Single(worker.Requests);
        Assert.Contains("Transfer-Encoding: chunked\r\n", request);
        Assert.EndsWith("\r\n\r\n12\r\npart one, part two\r\n0\r\n\r\n", request);
        // Chunked framing intact both ways: the connection is reused. With trailers, the response stays chunked.
        Assert.True(response.Headers.TransferEncodingChunked);
        await SendAsync(HttpMethod.Get);
        Assert.Equal(1, worker.Accepted);
    }

    [Fact]
    public async Task AChunkedResponseAlreadyWhole_IsGivenItsLength_AndTheConnectionReused()
    {
        // Kestrel chunks an app's small responses; whole on arrival, the client can have a Content-Length (one send).
        var worker = Worker(AnswerEach("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\n\r\n"));
        var response = await _client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "http://w1/"), CancellationToken.None).WaitAsync(Deadline);
        Assert.Equal(12, response.Content.Headers.ContentLength); // before the body is read (reading it buffers it)
        Assert.False(response.Headers.Contains("Transfer-Encoding"));
        Assert.Equal("hello, world", await response.Content.ReadAsStringAsync().WaitAsync(Deadline));
        await SendAsync(HttpMethod.Get);
        Assert.Equal(1, worker.Accepted);
    }

    [Fact]
    public async Task AChunkedResponseStillComing_StaysChunked()
    {
        var headSeen = new TaskCompletionSource();
        Worker(async session =>
        {
            await session.ReadRequestAsync();
            await session.SendAsync("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
            await headSeen.Task;
            await session.SendAsync("7\r\n, world\r\n0\r\n\r\n");
        });
        var response = await _client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "http://w1/"), CancellationToken.None).WaitAsync(Deadline);
        Assert.Null(response.Content.Headers.ContentLength);
        Assert.True(response.Headers.TransferEncodingChunked);
        headSeen.SetResult();
        Assert.Equal("hello, world", await response.Content.ReadAsStringAsync().WaitAsync(Deadline));
    }

    [Fact]
    public async Task ContentLengthBody_GoesWithItsHead()
    {
        var worker = Worker(AnswerEach(Ok));
        var (response, _) = await SendAsync(HttpMethod.Put, "/p", new ByteArrayContent(Encoding.ASCII.GetBytes("abc")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Matches("^PUT /p HTTP/1.1\r\nHost: w1\r\nContent-Length: 3\r\n\r\nabc$", Assert.Single(worker.Requests));
        // A bodiless POST still says so, as SocketsHttpHandler does.
        await SendAsync(HttpMethod.Post, "/empty");
        Assert.Contains("Content-Length: 0\r\n", worker.Requests[1]);
    }

    [Fact]
    public async Task InterimResponses_AreSkipped_TheFinalOneReturned()
    {
        Worker(AnswerEach("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone"));
        var request = new ByteArrayContent("data"u8.ToArray());
        var message = new HttpRequestMessage(HttpMethod.Post, "http://w1/up") { Content = request };
        message.Headers.ExpectContinue = true;
        var response = await _client.SendAsync(message, CancellationToken.None).WaitAsync(Deadline);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("done", await response.Content.ReadAsStringAsync());
        Assert.False(response.Headers.Contains("Link"));
        // The front answered the client's Expect itself: the worker is not asked to (it would wait, or send 100 late).
        Assert.DoesNotContain("Expect:", Assert.Single(_worker!.Requests), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task EarlyAnswerToALargeUpload_ReachesTheClient_NotA502()
    {
        var worker = Worker(async session =>
        {
            // An app that refuses the upload from its head alone and closes without reading the 4 MiB body.
            await session.ReceiveSomeAsync();
            await session.SendAsync("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large");
        });
        var upload = new ByteArrayContent(new byte[4 * 1024 * 1024]);
        var (response, body) = await SendAsync(HttpMethod.Post, "/upload", upload);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("too large", body);
        Assert.Equal(0, _handler.IdleConnections("w1"));
    }

    [Fact]
    public async Task ReusedConnectionClosedUnread_ABodilessPostIsNotSentAgain()
    {
        var worker = Worker(async session =>
        {
            await session.ReadRequestAsync();
            await session.SendAsync(Ok);
            await session.ReadRequestAsync(); // read, maybe acted on, never answered
        });
        await SendAsync(HttpMethod.Get, "/one");
        await Assert.ThrowsAsync<ClosedWithoutAnswerException>(() => SendAsync(HttpMethod.Post, "/charge"));
        Assert.Equal(1, worker.Accepted);
        Assert.Equal(2, worker.Requests.Count);
    }

    [Fact]
    public async Task Upgrade_101_CarriesBytesBothWays()
    {
        var worker = Worker(async session =>
        {
            await session.ReadRequestAsync();
            await session.SendAsync("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nfrom-worker");
            var received = await session.ReceiveSomeAsync();
            await session.SendAsync("echo:" + received);
        });
        var message = new HttpRequestMessage(HttpMethod.Get, "http://w1/ws");
        message.Headers.TryAddWithoutValidation("Connection", "Upgrade");
        message.Headers.TryAddWithoutValidation("Upgrade", "websocket");
        var response = await _client.SendAsync(message, CancellationToken.None).WaitAsync(Deadline);
        Assert.Equal(HttpStatusCode.SwitchingProtocols, response.StatusCode);
        var duplex = await response.Content.ReadAsStreamAsync();
        Assert.True(duplex.CanWrite);
        Assert.Equal("from-worker", await ReadAtLeastAsync(duplex, "from-worker".Length));
        await duplex.WriteAsync("from-client"u8.ToArray());
        Assert.Equal("echo:from-client", await ReadAtLeastAsync(duplex, "echo:from-client".Length));
        Assert.Contains("Upgrade: websocket\r\n", Assert.Single(worker.Requests));
        Assert.Equal(0, _handler.IdleConnections("w1"));
    }

    public static TheoryData<string, string> MalformedResponses => new()
    {
        { "HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok", "malformed status line" },
        { "HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "malformed status line" },
        { "HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 2\r\n\r\nok", "malformed header line" },
        { "HTTP/1.1 200 OK\r\n folded: x\r\nContent-Length: 2\r\n\r\nok", "malformed header line" },
        { "HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok", "invalid Content-Length" },
        { "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", "invalid Content-Length" },
        { "HTTP/1.1 200 OK\r\nX-Big: " + new string('a', 70 * 1024) + "\r\n\r\n", "larger than 64 KiB" },
        { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", "bad chunk size" },
        { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", "chunk data longer than its size" },
        { "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", "more body than its Content-Length" },
    };

    [Theory]
    [MemberData(nameof(MalformedResponses))]
    public async Task MalformedResponse_FailsTheRequest_AndTheConnectionIsNeverReused(string response, string problem)
    {
        var answers = 0;
        var worker = Worker(async session =>
        {
            while (await session.ReadRequestAsync() is not null)
            {
                await session.SendAsync(Interlocked.Increment(ref answers) == 1 ? response : Ok);
            }
        });
        var failure = await Assert.ThrowsAsync<WorkerProtocolException>(() => SendAsync(HttpMethod.Get, "/bad"));
        Assert.Contains(problem, failure.Message);
        Assert.Equal(HttpRequestError.InvalidResponse, failure.HttpRequestError);
        Assert.Equal(0, _handler.IdleConnections("w1"));
        // The worker stays in use: the next request goes out on a new connection and is answered.
        var (next, body) = await SendAsync(HttpMethod.Get, "/next");
        Assert.Equal("ok", body);
        Assert.Equal(2, worker.Accepted);
    }

    [Fact]
    public async Task WorkerClosingMidResponse_FailsTheBody()
    {
        Worker(async session =>
        {
            await session.ReadRequestAsync();
            await session.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part");
        });
        var response = await _client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "http://w1/"), CancellationToken.None).WaitAsync(Deadline);
        var body = await response.Content.ReadAsStreamAsync();
        await Assert.ThrowsAsync<IOException>(() => body.CopyToAsync(Stream.Null).WaitAsync(Deadline));
        Assert.Equal(0, _handler.IdleConnections("w1"));
    }

    [Fact]
    public async Task WorkerClosingBeforeAnswering_IsAResponseEnded()
    {
        Worker(async session => await session.ReadRequestAsync());
        var failure = await Assert.ThrowsAsync<ClosedWithoutAnswerException>(() => SendAsync(HttpMethod.Get));
        Assert.Equal(HttpRequestError.ResponseEnded, failure.HttpRequestError);
    }

    [Fact]
    public async Task ReusedConnectionClosedUnread_ABodilessRequestGoesOnceMoreOnAFreshConnection()
    {
        var worker = Worker(async session =>
        {
            if (session.Index == 1)
            {
                await session.ReadRequestAsync();
                await session.SendAsync(Ok);
                // A stopping worker's last look: the next request arrives and the connection closes unanswered.
                await session.ReadRequestAsync();
                return;
            }
            await AnswerEach(Ok)(session);
        });
        await SendAsync(HttpMethod.Get, "/one");
        var (response, body) = await SendAsync(HttpMethod.Get, "/two");
        Assert.Equal("ok", body);
        Assert.Equal(2, worker.Accepted);
        Assert.Equal(3, worker.Requests.Count);
    }

    [Fact]
    public async Task ConnectionClose_FromTheWorker_IsNotReused()
    {
        var worker = Worker(AnswerEach("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"));
        await SendAsync(HttpMethod.Get);
        await SendAsync(HttpMethod.Get);
        Assert.Equal(2, worker.Accepted);
        Assert.Equal(0, _handler.IdleConnections("w1"));
    }

    [Fact]
    public async Task BodyUntilClose_IsReadToTheEnd_AndNotReused()
    {
        var worker = Worker(async session =>
        {
            await session.ReadRequestAsync();
            await session.SendAsync("HTTP/1.0 200 OK\r\n\r\nall of it");
        });
        var (_, body) = await SendAsync(HttpMethod.Get);
        Assert.Equal("all of it", body);
        Assert.Equal(0, _handler.IdleConnections("w1"));
    }

    [Fact]
    public async Task PeerClosingBetweenRequests_TheRequestGoesOnAFreshConnection()
    {
        var closed = new TaskCompletionSource();
        var worker = Worker(async session =>
        {
            await session.ReadRequestAsync();
            await session.SendAsync(Ok);
            if (session.Index == 1)
            {
                // The worker ends its side of the kept-alive connection while it is idle (a recycling worker does).
                session.Close();
                closed.SetResult();
                return;
            }
            while (await session.ReadRequestAsync() is not null)
            {
                await session.SendAsync(Ok);
            }
        });
        await SendAsync(HttpMethod.Get, "/one");
        await closed.Task.WaitAsync(Deadline);
        Assert.Equal(1, _handler.IdleConnections("w1"));
        var (second, body) = await SendAsync(HttpMethod.Post, "/two", new StringContent("must not be lost"));
        Assert.Equal("ok", body);
        Assert.Equal(2, worker.Accepted);
        Assert.EndsWith("must not be lost", worker.Requests[1]);
    }

    [Fact]
    public async Task UnknownWorker_IsAConnectFailure()
    {
        Worker(AnswerEach(Ok));
        await Assert.ThrowsAsync<WorkerGoneException>(() => _client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "http://w9/"), CancellationToken.None));
        _handler.SetPaths([KeyValuePair.Create("w1", "/nonexistent/gunicorn-net-test.sock")]);
        var failure = await Assert.ThrowsAsync<HttpRequestException>(() => SendAsync(HttpMethod.Get));
        Assert.Equal(HttpRequestError.ConnectionError, failure.HttpRequestError);
    }

    [Fact]
    public async Task WorkerLeavingTheTable_StillTakesARequestThatChoseIt_WithoutPooling()
    {
        var worker = Worker(AnswerEach(Ok));
        await SendAsync(HttpMethod.Get);
        Assert.Equal(1, _handler.IdleConnections("w1"));
        // A reload published a new table while a request had already chosen this worker.
        _handler.SetPaths([]);
        var (_, body) = await SendAsync(HttpMethod.Get);
        Assert.Equal("ok", body);
        await SendAsync(HttpMethod.Get);
        // The pooled connection closed when the worker left; each later request had a connection of its own.
        Assert.Equal(3, worker.Accepted);
    }

    [Fact]
    public async Task HeadResponse_HasNoBody_AndKeepsTheConnection()
    {
        var worker = Worker(AnswerEach("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"));
        var (response, body) = await SendAsync(HttpMethod.Head);
        Assert.Equal("", body);
        Assert.Equal(1234, response.Content.Headers.ContentLength);
        await SendAsync(HttpMethod.Head);
        Assert.Equal(1, worker.Accepted);
    }

    private static async Task<string> ReadAtLeastAsync(Stream stream, int count)
    {
        var buffer = new byte[count];
        await stream.ReadExactlyAsync(buffer).AsTask().WaitAsync(Deadline);
        return Encoding.ASCII.GetString(buffer);
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        if (_worker is not null)
        {
            await _worker.DisposeAsync();
        }
    }

    /// <summary>A request body whose length is not known in advance (an unbuffered upload): sent chunked.</summary>
    private sealed class UnknownLengthStream(string text) : MemoryStream(Encoding.ASCII.GetBytes(text))
    {
        public override bool CanSeek => false;
    }
}
