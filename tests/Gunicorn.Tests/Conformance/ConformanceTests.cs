using System.Text.Json;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Conformance;

/// <summary>
/// gunicorn's request corpus (../shared/conformance/gunicorn-requests) sent byte for byte to the front, with the
/// @echo app behind it: valid requests must reach the app intact; invalid ones must get a 4xx (or a closed
/// connection) and never reach it.
/// </summary>
public class ConformanceTests(ConformanceServers servers) : IClassFixture<ConformanceServers>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    /// <summary>Hop-by-hop headers a proxy consumes and re-frames, and the forwarding headers it rewrites by design.</summary>
    private static readonly string[] ProxyOwned =
        ["CONNECTION", "KEEP-ALIVE", "TRANSFER-ENCODING", "TE", "TRAILER", "UPGRADE", "PROXY-CONNECTION",
         "X-FORWARDED-FOR", "X-FORWARDED-PROTO", "X-FORWARDED-HOST", "X-FORWARDED-PREFIX"];

    public static TheoryData<string> Cases() => new(CorpusCase.All.Value.Select(c => c.Name));

    /// <summary>
    /// Where the front deliberately answers differently from gunicorn alone, with the status it gives instead and why
    /// (docs/http-conformance.md). Besides these, an HTTP/1.1 request without Host is refused with 400, as RFC 9112
    /// section 3.2 requires and nginx did in front of gunicorn; that rule is derived from each case, not listed.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, (int Status, string Why)> Deviations = new Dictionary<string, (int, string)>
    {
        ["valid/003"] = (400, "Host '0.0.0.0=5000' is a valid RFC 3986 reg-name that Kestrel's host check refuses (no setting relaxes it)"),
        ["valid/024"] = (400, "an HTTP/1.0 PUT without Content-Length has no defined body (nginx answers 411)"),
        ["valid/027"] = (400, "raw non-ASCII bytes in the request target (RFC 9112 3.2 allows ASCII only)"),
        ["valid/025_line"] = (400, "Transfer-Encoding other than exactly 'chunked' is refused, as nginx does"),
        ["valid/rfc9112_smuggle_gzip_chunked_01"] = (501, "Transfer-Encoding other than exactly 'chunked' is refused, as nginx does"),
        ["valid/rfc9112_target_authority_ipv6_01"] = (405, "CONNECT is refused: the front is not a forward proxy"),
    };

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public async Task Case(string name)
    {
        var corpusCase = CorpusCase.All.Value.Single(c => c.Name == name);
        Skip.If(corpusCase.Settings.ContainsKey("permit_obsolete_folding"),
            "permit_obsolete_folding is unsupported: the front refuses obsolete line folding (docs/settings.md).");
        var server = await servers.ForAsync(corpusCase.Settings);
        var (responses, closed) = await RawHttp.ExchangeAsync(server.BaseAddress, corpusCase.Bytes(),
            corpusCase.IsValid ? corpusCase.Requests.Count : 1, Deadline, halfCloseWhenIdle: !corpusCase.IsValid);
        var hostless = corpusCase.Requests.ToList().FindIndex(r => r.Version.SequenceEqual([1, 1]) && r.Headers.All(h => h[0] != "HOST"));
        if (Deviations.TryGetValue(corpusCase.Name, out var deviation) || hostless >= 0)
        {
            var refusedAt = hostless >= 0 ? hostless : 0;
            var status = hostless >= 0 ? 400 : deviation.Status;
            Assert.True(responses.Count > refusedAt, $"no response to request {refusedAt + 1}");
            Assert.Equal(status, responses[refusedAt].Status);
            Assert.DoesNotContain("\"pid\":", responses[refusedAt].BodyText);
            AssertReachedAppIntact(corpusCase with { Requests = corpusCase.Requests.Take(refusedAt).ToList() }, responses.Take(refusedAt).ToList());
        }
        else if (corpusCase.IsValid)
        {
            AssertReachedAppIntact(corpusCase, responses);
        }
        else
        {
            AssertRefused(corpusCase, responses, closed);
        }
    }

    private static void AssertReachedAppIntact(CorpusCase corpusCase, List<RawResponse> responses)
    {
        Assert.True(responses.Count == corpusCase.Requests.Count,
            $"expected {corpusCase.Requests.Count} responses, got {responses.Count}: {string.Join(" | ", responses.Select(r => $"{r.Status} {r.BodyText}"))}");
        foreach (var (expected, response) in corpusCase.Requests.Zip(responses))
        {
            Assert.True(response.Status == 200, $"status {response.Status}: {response.BodyText}");
            var seen = JsonDocument.Parse(response.Body).RootElement;
            Assert.Equal(expected.Method, seen.GetProperty("method").GetString());
            // An HTTP client cannot send the asterisk form: OPTIONS * reaches the worker as OPTIONS /.
            Assert.Equal(expected.Uri == "*" ? "/" : OriginForm(expected.Uri), seen.GetProperty("rawTarget").GetString());
            var seenHeaders = seen.GetProperty("headers").EnumerateArray()
                .Select(h => (Name: h[0].GetString()!.ToUpperInvariant(), Value: h[1].GetString()!))
                .ToLookup(h => h.Name, h => h.Value);
            foreach (var group in expected.Headers.Where(h => !ProxyOwned.Contains(h[0])).GroupBy(h => h[0]))
            {
                Assert.Equal(string.Join(", ", group.Select(h => h[1])), string.Join(", ", seenHeaders[group.Key]));
            }
            Assert.Equal(expected.Body, seen.GetProperty("body").GetString());
        }
    }

    private static void AssertRefused(CorpusCase corpusCase, List<RawResponse> responses, bool closed)
    {
        var first = responses.FirstOrDefault();
        var refused = first is null ? closed : first.Status is >= 400 and < 500 or 501;
        Assert.True(refused,
            $"{corpusCase.Error} expected a 4xx or a closed connection; got {(first is null ? "no response, connection open" : $"{first.Status} {first.BodyText}")}");
        Assert.DoesNotContain(responses, r => r.BodyText.Contains("\"pid\":"));
    }

    /// <summary>A proxy forwards absolute-form targets in origin form.</summary>
    private static string OriginForm(string uri) =>
        uri.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || uri.StartsWith("https://", StringComparison.OrdinalIgnoreCase)
            ? uri[(uri.IndexOf('/', uri.IndexOf("//", StringComparison.Ordinal) + 2) is var slash and >= 0 ? slash : uri.Length)..] is { Length: > 0 } path ? path : "/"
            : uri;
}
