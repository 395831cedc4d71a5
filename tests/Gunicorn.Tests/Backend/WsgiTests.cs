using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Backend;

/// <summary>Python WSGI apps in real workers (Debian's python3 via pythonnet), through the real front.</summary>
public class WsgiTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly string Apps = RepoPaths.Combine("tests", "apps");

    /// <summary>Debian's interpreter, which sees Debian's python3-flask (a pyenv python3 first on PATH would not).</summary>
    private const string DebianPython = "/usr/bin/python3";

    private static Task<GunicornServer> StartAsync(params string[] args) =>
        GunicornServer.StartAsync(["--python", DebianPython, "--chdir", Apps, "--client-max-body-size", "20m", .. args]);

    [Theory]
    [InlineData("GET", "/plain?x=1&y=%20z", "/plain", "x=1&y=%20z")]
    [InlineData("GET", "/caf%C3%A9/a%2Fb", "/caf\u00c3\u00a9/a/b", "")]
    [InlineData("DELETE", "/item/7", "/item/7", "")]
    public async Task ValidatedApp_SeesPep3333Environ(string method, string target, string path, string query)
    {
        await using var server = await StartAsync("wsgi_conformance:validated");
        var request = new HttpRequestMessage(new HttpMethod(method), target);
        request.Headers.Add("X-Test", "header value");
        var seen = await JsonAsync(await server.Client.SendAsync(request));
        Assert.Equal(method, seen.GetProperty("method").GetString());
        Assert.Equal(path, seen.GetProperty("path").GetString());
        Assert.Equal(query, seen.GetProperty("query").GetString());
        Assert.Equal("", seen.GetProperty("script_name").GetString());
        Assert.Equal("http", seen.GetProperty("scheme").GetString());
        Assert.Equal("127.0.0.1", seen.GetProperty("remote_addr").GetString());
        Assert.Equal("header value", seen.GetProperty("x_test").GetString());
        Assert.False(seen.GetProperty("multithread").GetBoolean());
    }

    [Fact]
    public async Task RemoteAddrAndPort_AreTheClientsSocket_AndCannotBeSpoofedWithThePeerHeader()
    {
        await using var server = await StartAsync("wsgi_conformance:validated");
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        var localPort = ((System.Net.IPEndPoint)client.Client.LocalEndPoint!).Port;
        var stream = client.GetStream();
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(
            "GET /who HTTP/1.1\r\nHost: x\r\nGunicorn-Net-Peer: 192.0.2.66 9\r\nConnection: close\r\n\r\n"));
        var response = await new StreamReader(stream).ReadToEndAsync();
        var seen = JsonDocument.Parse(response[(response.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]).RootElement;
        Assert.Equal("127.0.0.1", seen.GetProperty("remote_addr").GetString());
        Assert.Equal(localPort.ToString(), seen.GetProperty("remote_port").GetString());
        Assert.Equal(JsonValueKind.Null, seen.GetProperty("peer_header").ValueKind);
    }

    [Fact]
    public async Task PostBodies_ChunkedAndLarge_ArriveWhole()
    {
        await using var server = await StartAsync("-w", "1", "wsgi_conformance:validated");
        var large = RandomNumberGenerator.GetBytes(10 * 1024 * 1024);
        var seen = await JsonAsync(await server.Client.PostAsync("/upload", new ByteArrayContent(large)));
        Assert.Equal(large.Length, seen.GetProperty("body_length").GetInt32());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(large)), seen.GetProperty("body_sha256").GetString());
        Assert.Equal(large.Length.ToString(), seen.GetProperty("content_length").GetString());

        var chunked = new StreamContent(new MemoryStream(Encoding.ASCII.GetBytes("a chunked body")));
        var request = new HttpRequestMessage(HttpMethod.Post, "/chunked") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        seen = await JsonAsync(await server.Client.SendAsync(request));
        Assert.Equal(14, seen.GetProperty("body_length").GetInt32());

        var form = new FormUrlEncodedContent([KeyValuePair.Create("a", "b")]);
        seen = await JsonAsync(await server.Client.PostAsync("/form", form));
        Assert.Equal("application/x-www-form-urlencoded", seen.GetProperty("content_type").GetString());
    }

    [Fact]
    public async Task HeadRequest_HasNoBody_AndStreamingAndWriteResponsesArriveWhole()
    {
        await using var server = await StartAsync("wsgi_conformance:streaming");
        var head = await server.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());
        Assert.Equal("chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n", await server.Client.GetStringAsync("/"));

        await using var writer = await StartAsync("wsgi_conformance:write_callable");
        Assert.Equal("written returned", await writer.Client.GetStringAsync("/"));
    }

    [Fact]
    public async Task AppException_Gives500WithTraceback_AndTheWorkerKeepsServing()
    {
        await using var server = await StartAsync("-w", "1", "wsgi_conformance:raising");
        var worker = server.WorkerPids().Single();
        var failed = await server.Client.GetAsync("/fail");
        Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        await server.WaitForLogAsync("RuntimeError: the app failed on purpose", Deadline);
        Assert.Equal("still serving", await server.Client.GetStringAsync("/ok"));
        Assert.Equal([worker], server.WorkerPids());
    }

    [Theory]
    [InlineData("wsgi_conformance", "default application")]
    [InlineData("wsgi_conformance:factory('made by a factory')", "made by a factory")]
    public async Task AppTarget_FormsAsGunicorn(string target, string expected)
    {
        await using var server = await StartAsync(target);
        Assert.Equal(expected, await server.Client.GetStringAsync("/"));
    }

    [Fact]
    public async Task UnimportableApp_HaltsTheMasterWithExitCode4()
    {
        await using var server = await GunicornServer.StartAsync(["--python", DebianPython, "--chdir", Apps, "broken:app"], waitForReady: false);
        Assert.Equal(4, await server.WaitForExitAsync(Deadline));
        Assert.Contains("App failed to load: broken:app", server.Log);
        Assert.Contains("No module named 'module_that_does_not_exist'", server.Log);
    }

    [Fact]
    public async Task GthreadWorker_OverlapsBlockingRequests_OnSeveralPythonThreads()
    {
        await using var server = await StartAsync("-w", "1", "--threads", "4", "threads:app");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => server.Client.GetStringAsync("/?1")));
        // Four 1-second sleeps on one worker: overlapped they take about a second, serialized four.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"took {watch.Elapsed}");
        Assert.All(answers, a => Assert.EndsWith(" True", a));
        Assert.True(answers.Select(a => a.Split(' ')[0]).Distinct().Count() > 1, string.Join(" | ", answers));
        Assert.Contains("using gthread", server.Log);
    }

    [Fact]
    public async Task AppThatBreaksOnDisk_CrashLoopsWithBackoff_AndTheMasterStaysUp()
    {
        var marker = Path.Combine(Directory.CreateTempSubdirectory("gunicorn-net-flaky-").FullName, "broken");
        await using var server = await GunicornServer.StartAsync(
            ["--python", DebianPython, "--chdir", Apps, "-w", "1", "-e", $"FLAKY_BOOT_MARKER={marker}", "flaky_boot:app"]);
        File.WriteAllText(marker, "");
        Signals.Send(server.WorkerPids().Single(), Signals.KILL);
        await server.WaitForLogAsync(@"Worker crash loop: 3 workers in a row died within 5 s of starting; next attempt in 0\.4 s", Deadline);
        Assert.False(server.HasExited);
        var booted = System.Text.RegularExpressions.Regex.Matches(server.Log, "Booting worker with pid").Count;
        Assert.InRange(booted, 3, 6); // backoff, not a spin
        File.Delete(marker);
        await Eventually.True(async () => (await server.Client.GetAsync("/")).IsSuccessStatusCode, Deadline, "recovery once the deploy is fixed");
    }

    /// <summary>The sample apps, unmodified, on Debian's python3-flask and python3-django.</summary>
    [SkippableTheory]
    [InlineData("flask", "flask", "app:app", "Flask on gunicorn-net")]
    [InlineData("django", "django", "mysite.wsgi", "Django on gunicorn-net")]
    public async Task SampleApp_ServesPagesAndForms(string package, string sample, string target, string heading)
    {
        Skip.IfNot(Directory.Exists($"/usr/lib/python3/dist-packages/{package}"), $"Debian's python3-{package} is not installed.");
        await using var server = await GunicornServer.StartAsync(
            ["--python", DebianPython, "--chdir", RepoPaths.Combine("samples", sample), target]);
        Assert.Contains(heading, await server.Client.GetStringAsync("/"));
        var posted = await server.Client.PostAsync("/form", new FormUrlEncodedContent([KeyValuePair.Create("name", "Ann")]));
        Assert.Equal("Hello, Ann!", await posted.Content.ReadAsStringAsync());
    }


    [Fact]
    public async Task PythonHooks_RunWithGunicornsArguments()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-pyhooks-").FullName;
        var record = Path.Combine(dir, "record.txt");
        File.WriteAllText(Path.Combine(dir, "gunicorn.yaml"), string.Concat(
            new[] { "post_fork", "post_worker_init", "pre_request", "post_request", "worker_exit" }
                .Select(h => $"{h}: python:gunicorn_hooks:{h}\n")));
        await using var server = await GunicornServer.StartAsync(
            ["--python", DebianPython, "--chdir", Apps, "-w", "1", "-e", $"HOOK_RECORD={record}", "wsgi_conformance:raising"], dir);
        var worker = server.WorkerPids().Single();
        Assert.Equal("still serving", await server.Client.GetStringAsync("/hello"));
        server.Signal(Signals.TERM);
        Assert.Equal(0, await server.WaitForExitAsync(Deadline));
        Assert.Equal(
            [$"post_fork {worker} {server.Pid}", $"post_worker_init {worker}", "pre_request GET /hello", "post_request /hello 200 13", $"worker_exit {worker}"],
            File.ReadAllLines(record));
    }


    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }
}
