using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Front;

/// <summary>The access log, compared byte for byte with Debian's gunicorn serving the same requests.</summary>
public partial class AccessLogTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private const string Gunicorn = "/usr/bin/gunicorn";

    [SkippableFact]
    public async Task DefaultFormat_MatchesGunicorn_ByteForByte()
    {
        Skip.IfNot(File.Exists(Gunicorn), "Debian's gunicorn is not installed (./test.sh installs it).");
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-accesslog-").FullName;
        File.WriteAllText(Path.Combine(dir, "app.py"),
            "def app(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'']\n");
        using var reference = StartGunicorn(dir, out var referenceLog);
        try
        {
            await CompareAsync(reference, referenceLog);
        }
        finally
        {
            // gunicorn's master and its worker: the whole tree this test started.
            reference.Kill(entireProcessTree: true);
        }
    }

    private static async Task CompareAsync(Process reference, System.Text.StringBuilder referenceLog)
    {
        var referenceBase = await Eventually.Get(() => Task.FromResult(ListeningAt().Match(referenceLog.ToString()) is { Success: true } m ? m.Groups[1].Value : null), Deadline, "gunicorn to listen");
        await using var ours = await GunicornServer.StartAsync(["--access-logfile", "-", "@echo"]);

        // /env of the @echo app answers an empty 200, like the reference app.
        var targets = new[] { "/env?name=UNSET_VARIABLE", "/env?name=UNSET_VARIABLE&x=%20y" };
        using var referenceClient = new HttpClient { BaseAddress = new Uri($"http://{referenceBase}") };
        foreach (var target in targets)
        {
            await SendSampleAsync(referenceClient, target);
            await SendSampleAsync(ours.Client, target);
        }
        var expected = await Eventually.Get(() => Task.FromResult(AccessLines(referenceLog.ToString()) is { Count: 2 } l ? l : null), Deadline, "gunicorn's access lines");
        var actual = await Eventually.Get(() => Task.FromResult(AccessLines(ours.Log) is { Count: 2 } l ? l : null), Deadline, "our access lines");
        Assert.Equal(expected.Select(WithoutTime), actual.Select(WithoutTime));
        Assert.All(actual, line => Assert.Matches(@"\[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\]", line));
        Assert.False(reference.HasExited);
    }

    [Fact]
    public async Task CustomFormat_RendersEveryKindOfAtom()
    {
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-accesslog-").FullName;
        File.WriteAllText(Path.Combine(dir, "gunicorn.yaml"),
            "accesslog: \"-\"\naccess_log_format: \"%(m)s|%(U)s|%(q)s|%(H)s|%(s)s|%({X-Test}i)s|%({content-type}o)s|%(p)s|%(B)s|%({REMOTE_ADDR}e)s|%(L)s|100%%\"\n");
        await using var server = await GunicornServer.StartAsync(["@echo"], dir);
        var request = new HttpRequestMessage(HttpMethod.Get, "/env?name=HOME");
        request.Headers.Add("X-Test", "seen");
        var body = await (await server.Client.SendAsync(request)).Content.ReadAsStringAsync();
        var line = await server.WaitForLogAsync(@"^GET\|.*\|100%$", Deadline);
        var fields = line.Value.Split('|');
        Assert.Equal(["GET", "/env", "name=HOME", "HTTP/1.1", "200", "seen", "text/plain; charset=utf-8", $"<{server.Pid}>", body.Length.ToString(), "127.0.0.1"], fields[..10]);
        Assert.Matches(@"^\d+\.\d{6}$", fields[10]);
    }

    private static async Task SendSampleAsync(HttpClient client, string target)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, target);
        request.Headers.UserAgent.ParseAdd("sample-agent/1.0");
        request.Headers.Referrer = new Uri("http://referrer.example/page");
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("alice:secret"u8.ToArray()));
        (await client.SendAsync(request)).EnsureSuccessStatusCode();
    }

    private static Process StartGunicorn(string dir, out System.Text.StringBuilder log)
    {
        var start = new ProcessStartInfo(Gunicorn) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-b", "127.0.0.1:0", "--access-logfile", "-", "app:app" })
        {
            start.ArgumentList.Add(arg);
        }
        var process = Process.Start(start)!;
        var buffer = new System.Text.StringBuilder();
        log = buffer;
        process.OutputDataReceived += (_, e) => { lock (buffer) { buffer.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (buffer) { buffer.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static List<string> AccessLines(string log) =>
        log.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.StartsWith("127.0.0.1 ")).ToList();

    private static string WithoutTime(string line) => TimeField().Replace(line, "[TIME]");

    [GeneratedRegex(@"Listening at: http://(127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningAt();

    [GeneratedRegex(@"\[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\]")]
    private static partial Regex TimeField();
}
