using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Front;

/// <summary>gzip and brotli at the front (nginx's gzip, ngx_brotli): round trips, negotiation, and every exclusion.</summary>
public class CompressionTests(CompressionTests.Site site) : IClassFixture<CompressionTests.Site>
{
    public sealed class Site : IAsyncLifetime
    {
        public GunicornServer Server { get; private set; } = null!;
        public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("gunicorn-net-gzip-").FullName;
        public byte[] Page { get; private set; } = [];

        public async Task InitializeAsync()
        {
            var pub = System.IO.Directory.CreateDirectory(Path.Combine(Directory, "public")).FullName;
            var raw = System.IO.Directory.CreateDirectory(Path.Combine(Directory, "raw")).FullName;
            var html = new StringBuilder("<html><body>");
            for (var i = 0; html.Length < 100 * 1024; i++)
            {
                html.Append("<p class=\"row\">Row ").Append(i).Append(": the quick brown fox jumps over the lazy dog.</p>\n");
            }
            Page = Encoding.UTF8.GetBytes(html.Append("</body></html>").ToString());
            File.WriteAllBytes(Path.Combine(pub, "page.html"), Page);
            File.WriteAllBytes(Path.Combine(raw, "page.html"), Page);
            File.WriteAllText(Path.Combine(pub, "tiny.html"), "<p>tiny</p>");
            File.WriteAllText(Path.Combine(pub, "app.css"), new string('x', 2000));
            using (var gz = new GZipStream(File.Create(Path.Combine(pub, "app.css.gz")), CompressionLevel.Optimal))
            {
                gz.Write(Encoding.ASCII.GetBytes(new string('x', 2000)));
            }
            File.WriteAllText(Path.Combine(Directory, "gunicorn.yaml"), """
                gzip: true
                brotli: true
                gzip_comp_level: 6
                static:
                  /static: public
                  /raw:
                    root: raw
                    cache_control: "public, no-transform"
                """);
            Server = await GunicornServer.StartAsync(["@echo"], Directory);
        }

        public async Task DisposeAsync() => await Server.DisposeAsync();
    }

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private async Task<HttpResponseMessage> GetAsync(string path, string? acceptEncoding, Action<HttpRequestMessage>? also = null, HttpMethod? method = null)
    {
        var request = new HttpRequestMessage(method ?? HttpMethod.Get, path);
        if (acceptEncoding is not null)
        {
            request.Headers.TryAddWithoutValidation("Accept-Encoding", acceptEncoding);
        }
        also?.Invoke(request);
        // The test client never decompresses: what arrives is what the front sent.
        return await site.Server.Client.SendAsync(request);
    }

    private static byte[] Decode(string encoding, byte[] body)
    {
        using var input = new MemoryStream(body);
        using Stream decoder = encoding == "br" ? new BrotliStream(input, CompressionMode.Decompress) : new GZipStream(input, CompressionMode.Decompress);
        using var output = new MemoryStream();
        decoder.CopyTo(output);
        return output.ToArray();
    }

    [Theory]
    [InlineData("gzip", "gzip")]
    [InlineData("br", "br")]
    [InlineData("gzip, deflate, br", "br")]
    [InlineData("gzip;q=1.0, br;q=0.5", "gzip")]
    [InlineData("br;q=0, gzip", "gzip")]
    public async Task StaticPage_IsCompressedWithTheCodingTheClientPrefers(string accept, string expected)
    {
        var response = await GetAsync("/static/page.html", accept);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal([expected], response.Content.Headers.ContentEncoding);
        Assert.Contains("Accept-Encoding", response.Headers.Vary);
        var body = await response.Content.ReadAsByteArrayAsync();
        Assert.True(body.Length < site.Page.Length / 5, $"{expected} body of {body.Length} bytes for a {site.Page.Length}-byte page");
        Assert.Equal(site.Page, Decode(expected, body));
    }

    [Fact]
    public async Task AppResponse_IsCompressed_AndDecodesToTheAppsAnswer()
    {
        var response = await GetAsync("/some/path?x=1", "gzip");
        Assert.Equal(["gzip"], response.Content.Headers.ContentEncoding);
        Assert.Contains("Accept-Encoding", response.Headers.Vary);
        using var echoed = JsonDocument.Parse(Decode("gzip", await response.Content.ReadAsByteArrayAsync()));
        Assert.Equal("/some/path", echoed.RootElement.GetProperty("path").GetString());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("identity")]
    [InlineData("zstd, compress")]
    [InlineData("gzip;q=0, br;q=0")]
    [InlineData("identity;q=0, zstd")] // nothing acceptable: RFC 9110 12.5.3 lets the server send identity (no 406)
    public async Task NoAcceptableCoding_GetsTheBodyAsItIs(string? accept)
    {
        var response = await GetAsync("/static/page.html", accept);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Empty(response.Content.Headers.ContentEncoding);
        Assert.Equal(site.Page, await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Exclusions_RangesTinyBodiesNoTransformOtherTypesHeadAndPrecompressed()
    {
        var range = await GetAsync("/static/page.html", "gzip", r => r.Headers.Range = new RangeHeaderValue(0, 99));
        Assert.Equal(HttpStatusCode.PartialContent, range.StatusCode);
        Assert.Empty(range.Content.Headers.ContentEncoding);
        Assert.Equal(site.Page[..100], await range.Content.ReadAsByteArrayAsync());

        var tiny = await GetAsync("/static/tiny.html", "gzip");
        Assert.Empty(tiny.Content.Headers.ContentEncoding);
        Assert.Equal("<p>tiny</p>", await tiny.Content.ReadAsStringAsync());

        var noTransform = await GetAsync("/raw/page.html", "gzip, br");
        Assert.Empty(noTransform.Content.Headers.ContentEncoding);
        Assert.Equal(site.Page, await noTransform.Content.ReadAsByteArrayAsync());

        var binary = await GetAsync("/bytes?count=4096", "gzip");
        Assert.Equal("application/octet-stream", binary.Content.Headers.ContentType?.MediaType);
        Assert.Empty(binary.Content.Headers.ContentEncoding);
        Assert.Equal(4096, (await binary.Content.ReadAsByteArrayAsync()).Length);

        var head = await GetAsync("/static/page.html", "gzip", method: HttpMethod.Head);
        Assert.Empty(head.Content.Headers.ContentEncoding);
        Assert.Equal(site.Page.Length, head.Content.Headers.ContentLength);

        // Already encoded (the precompressed sibling): sent once-encoded, never gzip inside gzip.
        var css = await GetAsync("/static/app.css", "gzip");
        Assert.Equal(["gzip"], css.Content.Headers.ContentEncoding);
        Assert.Equal(new string('x', 2000), Encoding.ASCII.GetString(Decode("gzip", await css.Content.ReadAsByteArrayAsync())));
    }

    [Fact]
    public async Task HotStaticFile_IsCompressedOnce_PerVersion()
    {
        var file = Path.Combine(site.Directory, "public", "cached.html");
        var version1 = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("<p>version one</p>\n", 400)));
        File.WriteAllBytes(file, version1);
        var modified = DateTime.UtcNow.AddMinutes(-10);
        File.SetLastWriteTimeUtc(file, modified);

        var first = await GetAsync("/static/cached.html", "gzip");
        var second = await GetAsync("/static/cached.html", "gzip");
        Assert.Equal(version1, Decode("gzip", await first.Content.ReadAsByteArrayAsync()));
        Assert.Equal(version1, Decode("gzip", await second.Content.ReadAsByteArrayAsync()));
        Assert.Equal(first.Headers.ETag, second.Headers.ETag);
        Assert.Equal(["gzip"], second.Content.Headers.ContentEncoding);
        Assert.Contains("Accept-Encoding", second.Headers.Vary);
        Assert.Equal("text/html", second.Content.Headers.ContentType?.MediaType);

        // The cache is keyed like the ETag (size and mtime): the same bytes rewritten behind the file's back with
        // its old mtime are still answered from memory, which proves the answer did not come from a new compression...
        var sameShape = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("<p>version two</p>\n", 400)));
        File.WriteAllBytes(file, sameShape);
        File.SetLastWriteTimeUtc(file, modified);
        Assert.Equal(version1, Decode("gzip", await (await GetAsync("/static/cached.html", "gzip")).Content.ReadAsByteArrayAsync()));
        // ...while a real edit (new mtime) is compressed afresh, and br has its own entry.
        File.SetLastWriteTimeUtc(file, DateTime.UtcNow);
        Assert.Equal(sameShape, Decode("gzip", await (await GetAsync("/static/cached.html", "gzip")).Content.ReadAsByteArrayAsync()));
        Assert.Equal(sameShape, Decode("br", await (await GetAsync("/static/cached.html", "br")).Content.ReadAsByteArrayAsync()));

        var conditional = await GetAsync("/static/cached.html", "gzip", r => r.Headers.TryAddWithoutValidation("If-None-Match", second.Headers.ETag!.ToString()));
        Assert.Equal(HttpStatusCode.OK, conditional.StatusCode); // the ETag changed with the edit
    }

    [Fact]
    public async Task FilesOfTheSameSizeAndMtime_KeepTheirOwnCompressedCopies()
    {
        // An unpacked archive or a reproducible build: same length, same mtime, different bytes.
        var stamp = DateTime.UtcNow.AddHours(-1);
        var bodies = new Dictionary<string, byte[]>();
        foreach (var name in new[] { "twin-a.html", "twin-b.html" })
        {
            bodies[name] = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat($"<p>{name}</p>\n", 300)));
            var file = Path.Combine(site.Directory, "public", name);
            File.WriteAllBytes(file, bodies[name]);
            File.SetLastWriteTimeUtc(file, stamp);
        }
        foreach (var round in new[] { 1, 2 })
        {
            foreach (var (name, body) in bodies)
            {
                var response = await GetAsync("/static/" + name, "gzip");
                Assert.Equal(["gzip"], response.Content.Headers.ContentEncoding);
                var decoded = Decode("gzip", await response.Content.ReadAsByteArrayAsync());
                Assert.True(body.SequenceEqual(decoded), $"{name}, round {round}: another file's body");
            }
        }
    }

    [Fact]
    public async Task CompressedAnswers_CarryAWeakETag_ThatRevalidatesButNeverSplicesRanges()
    {
        var identity = await GetAsync("/static/page.html", null);
        var strong = identity.Headers.ETag!;
        Assert.False(strong.IsWeak);
        // On the fly, then from the compressed cache: the same weak tag, the identity answer keeps its strong one.
        foreach (var _ in new[] { 1, 2 })
        {
            var compressed = await GetAsync("/static/page.html", "gzip");
            Assert.Equal(["gzip"], compressed.Content.Headers.ContentEncoding);
            Assert.Equal(new EntityTagHeaderValue(strong.Tag, isWeak: true), compressed.Headers.ETag);
        }

        // If-None-Match compares weakly: the compressed copy a client holds is still current.
        var revalidated = await GetAsync("/static/page.html", "gzip", r => r.Headers.TryAddWithoutValidation("If-None-Match", "W/" + strong.Tag));
        Assert.Equal(HttpStatusCode.NotModified, revalidated.StatusCode);
        // If-Range compares strongly: a range against the compressed copy's tag gets the whole identity body, never
        // bytes of the identity file to append to compressed ones.
        var ranged = await GetAsync("/static/page.html", "gzip", r =>
        {
            r.Headers.TryAddWithoutValidation("If-Range", "W/" + strong.Tag);
            r.Headers.Range = new RangeHeaderValue(100, 199);
        });
        Assert.Equal(HttpStatusCode.OK, ranged.StatusCode);
        var whole = await ranged.Content.ReadAsByteArrayAsync();
        Assert.Equal(site.Page, ranged.Content.Headers.ContentEncoding.Count == 0 ? whole : Decode(ranged.Content.Headers.ContentEncoding.Single(), whole));
        Assert.Equal(HttpStatusCode.PartialContent, (await GetAsync("/static/page.html", null, r =>
        {
            r.Headers.TryAddWithoutValidation("If-Range", strong.Tag);
            r.Headers.Range = new RangeHeaderValue(100, 199);
        })).StatusCode);
    }

    [SkippableTheory]
    [InlineData("gzip")]
    [InlineData("br")]
    public async Task Curl_Compressed_RoundTrips(string coding)
    {
        Skip.IfNot(ExternalTool.IsInstalled("/usr/bin/curl"), "curl is installed by test.sh.");
        var file = Path.Combine(site.Directory, $"curl-{coding}.out");
        var url = new Uri(site.Server.BaseAddress, "/static/page.html").ToString();
        var curl = await ExternalTool.RunAsync("/usr/bin/curl",
            ["-s", "--compressed", "-H", $"Accept-Encoding: {coding}", "-o", file, "-w", "%{size_download} %{http_code}", url], Deadline);
        var parts = curl.Output.Trim().Split(' ');
        Assert.Equal("200", parts[1]);
        Assert.True(long.Parse(parts[0]) < site.Page.Length / 5, $"curl downloaded {parts[0]} bytes: not compressed");
        Assert.Equal(site.Page, File.ReadAllBytes(file));
    }
}
