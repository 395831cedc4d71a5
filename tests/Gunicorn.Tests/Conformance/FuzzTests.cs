using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Conformance;

/// <summary>
/// A bounded fuzz of the front's HTTP/1 parsing: mutations of the gunicorn corpus (bytes flipped, inserted and
/// deleted, headers duplicated, line endings changed, huge and negative numbers) sent to the real front. Whatever
/// arrives, the front must not crash or hang, answers only with a 4xx, a 501/505 of its own or the worker's answer,
/// and the worker must receive exactly the request line the client sent (no desync between front and worker). The
/// seed is in every failure message; FUZZ_SEED=N runs (or reproduces) another sequence.
/// </summary>
public class FuzzTests
{
    private const int Cases = 300;
    private static readonly TimeSpan PerCase = TimeSpan.FromSeconds(4);

    [Fact]
    public async Task MutatedCorpusRequests_NeverCrashHangOrDesyncTheFront()
    {
        // A fixed seed keeps the suite deterministic; FUZZ_SEED=N explores (or reproduces) other runs.
        var seed = int.TryParse(Environment.GetEnvironmentVariable("FUZZ_SEED"), out var chosen) ? chosen : 20261203;
        var random = new Random(seed);
        var corpus = CorpusCase.All.Value.Select(c => c.Bytes()).ToList();
        await using var server = await GunicornServer.StartAsync(["-w", "2", "--client-header-timeout", "2", "--client-body-timeout", "2", "@echo"]);

        for (var i = 0; i < Cases; i++)
        {
            var request = Mutate(corpus[random.Next(corpus.Count)], random);
            var context = $"seed {seed}, case {i}: {Printable(request)}";
            var watch = Stopwatch.StartNew();
            var (responses, _) = await RawHttp.ExchangeAsync(server.BaseAddress, request, 4, PerCase, halfCloseWhenIdle: true);
            Assert.True(watch.Elapsed < PerCase + TimeSpan.FromSeconds(1), $"hung: {context}");
            foreach (var response in responses)
            {
                if (response.Status is >= 200 and < 300 && response.BodyText.Contains("\"pid\":", StringComparison.Ordinal))
                {
                    // The worker's answer: the request line it saw is one the client wrote.
                    var echo = JsonDocument.Parse(response.Body).RootElement;
                    var method = echo.GetProperty("method").GetString()!;
                    var target = echo.GetProperty("rawTarget").GetString()!;
                    Assert.True(WasSent(Encoding.Latin1.GetString(request), method, target), $"desync, the worker saw \"{method} {target}\": {context}");
                    continue;
                }
                Assert.True(response.Status is (>= 400 and < 500) or 100 or 501 or 505 or 200 or 204 or 304,
                    $"status {response.Status} (a 5xx from the front means the worker was handed something it could not read): {context}");
            }
            Assert.False(server.HasExited, $"the master died: {context}");
        }

        Assert.Equal("200", (await server.Client.GetAsync("/pid")).StatusCode.ToString("D"));
        Assert.DoesNotContain("Unhandled exception", server.Log);
    }

    /// <summary>
    /// Whether a request line of what the client sent names this method and target, up to the normalizations a gateway
    /// makes and the worker undoes: absolute-form to origin-form, the fragment dropped, characters percent-encoded
    /// (the worker decodes PATH_INFO), and OPTIONS * as OPTIONS / (docs/http-conformance.md).
    /// </summary>
    private static bool WasSent(string sent, string method, string target) =>
        sent.Split('\n').Select(line => line.TrimEnd('\r').Split(' ')).Any(parts =>
            parts.Length >= 2 && parts[0] == method
            && (Normalize(parts[1]) == Normalize(target) || (parts[1] == "*" && target == "/")));

    private static string Normalize(string target)
    {
        target = target.Split('#')[0];
        if (target.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || target.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            var path = target.IndexOf('/', target.IndexOf("//", StringComparison.Ordinal) + 2);
            target = path < 0 ? "/" : target[path..];
        }
        return Uri.UnescapeDataString(target);
    }

    private static readonly string[] Numbers = ["-1", "0", "99999999999999999999", "18446744073709551616", "-0", "+5", "0x10", "1e3", " 7"];

    private static byte[] Mutate(byte[] original, Random random)
    {
        var bytes = original.ToList();
        for (var n = random.Next(1, 4); n > 0; n--)
        {
            switch (random.Next(7))
            {
                case 0 when bytes.Count > 0: // flip a byte
                    bytes[random.Next(bytes.Count)] = (byte)random.Next(256);
                    break;
                case 1: // insert a byte, often a delimiter
                    var inserted = random.Next(3) == 0 ? (byte)random.Next(256) : "\r\n: \t\0"u8[random.Next(6)];
                    bytes.Insert(random.Next(bytes.Count + 1), inserted);
                    break;
                case 2 when bytes.Count > 1: // delete a run
                    var at = random.Next(bytes.Count);
                    bytes.RemoveRange(at, Math.Min(bytes.Count - at, random.Next(1, 8)));
                    break;
                case 3: // duplicate a header line
                    var text = Encoding.Latin1.GetString(bytes.ToArray());
                    var lines = text.Split("\r\n").ToList();
                    if (lines.Count > 2)
                    {
                        var index = random.Next(1, lines.Count - 1);
                        lines.Insert(index, lines[index]);
                        bytes = Encoding.Latin1.GetBytes(string.Join("\r\n", lines)).ToList();
                    }
                    break;
                case 4: // line endings: CRLF becomes LF, CR or CRCRLF
                    var crlf = Encoding.Latin1.GetString(bytes.ToArray());
                    var ending = new[] { "\n", "\r", "\r\r\n", "\n\r" }[random.Next(4)];
                    var position = crlf.IndexOf("\r\n", random.Next(Math.Max(1, crlf.Length)), StringComparison.Ordinal);
                    if (position >= 0)
                    {
                        bytes = Encoding.Latin1.GetBytes(crlf[..position] + ending + crlf[(position + 2)..]).ToList();
                    }
                    break;
                case 5: // a number replaced by a huge, negative or odd one
                    var withNumbers = Encoding.Latin1.GetString(bytes.ToArray());
                    var digits = System.Text.RegularExpressions.Regex.Matches(withNumbers, @"\d+");
                    if (digits.Count > 0)
                    {
                        var match = digits[random.Next(digits.Count)];
                        bytes = Encoding.Latin1.GetBytes(withNumbers[..match.Index] + Numbers[random.Next(Numbers.Length)] + withNumbers[(match.Index + match.Length)..]).ToList();
                    }
                    break;
                default: // a framing header added
                    var head = Encoding.Latin1.GetString(bytes.ToArray());
                    var firstLineEnd = head.IndexOf("\r\n", StringComparison.Ordinal);
                    if (firstLineEnd > 0)
                    {
                        var header = new[] { "Content-Length: 5", "Transfer-Encoding: chunked", "Content-Length: -1", "Transfer-Encoding: identity", "Host: a", "Expect: 100-continue" }[random.Next(6)];
                        bytes = Encoding.Latin1.GetBytes(head[..(firstLineEnd + 2)] + header + "\r\n" + head[(firstLineEnd + 2)..]).ToList();
                    }
                    break;
            }
        }
        return bytes.ToArray();
    }

    private static string Printable(byte[] bytes) =>
        string.Concat(bytes.Take(300).Select(b => b is >= 32 and < 127 ? ((char)b).ToString() : $"\\x{b:x2}"));
}
