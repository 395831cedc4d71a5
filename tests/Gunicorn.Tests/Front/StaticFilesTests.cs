using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Gunicorn.Tests.Conformance;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Front;

/// <summary>static mappings served by the front: caching headers, ranges, precompressed siblings, containment.</summary>
public class StaticFilesTests(StaticFilesTests.Site site) : IClassFixture<StaticFilesTests.Site>
{
    public sealed class Site : IAsyncLifetime
    {
        public GunicornServer Server { get; private set; } = null!;
        public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("gunicorn-net-static-").FullName;

        public async Task InitializeAsync()
        {
            var pub = System.IO.Directory.CreateDirectory(Path.Combine(Directory, "public")).FullName;
            var secret = System.IO.Directory.CreateDirectory(Path.Combine(Directory, "secret")).FullName;
            System.IO.Directory.CreateDirectory(Path.Combine(pub, "docs"));
            File.WriteAllText(Path.Combine(pub, "hello.txt"), "hello static world");
            File.WriteAllText(Path.Combine(pub, "docs", "index.html"), "<h1>docs</h1>");
            File.WriteAllText(Path.Combine(pub, "app.css"), "body {}");
            using (var gz = new GZipStream(File.Create(Path.Combine(pub, "app.css.gz")), CompressionLevel.Optimal))
            {
                gz.Write("/* precompressed */"u8);
            }
            File.WriteAllText(Path.Combine(secret, "key.txt"), "top secret");
            File.WriteAllText(Path.Combine(pub, ".env"), "DATABASE_PASSWORD=hunter2");
            System.IO.Directory.CreateDirectory(Path.Combine(pub, ".git"));
            File.WriteAllText(Path.Combine(pub, ".git", "config"), "[remote] url = hunter2");
            System.IO.Directory.CreateDirectory(Path.Combine(pub, ".private"));
            File.WriteAllText(Path.Combine(pub, ".private", "index.html"), "hunter2");
            System.IO.Directory.CreateDirectory(Path.Combine(pub, ".well-known"));
            File.WriteAllText(Path.Combine(pub, ".well-known", "security.txt"), "Contact: mailto:security@example.com");
            File.CreateSymbolicLink(Path.Combine(pub, "escape.txt"), Path.Combine(secret, "key.txt"));
            File.CreateSymbolicLink(Path.Combine(pub, "inside.txt"), Path.Combine(pub, "hello.txt"));
            File.WriteAllText(Path.Combine(Directory, "gunicorn.yaml"), """
                static:
                  /static:
                    root: public
                    cache_control: "public, max-age=3600"
                """);
            Server = await GunicornServer.StartAsync(["@echo"], Directory);
        }

        public async Task DisposeAsync() => await Server.DisposeAsync();
    }

    private HttpClient Client => site.Server.Client;

    [Fact]
    public async Task File_IsServedWithValidators_AndWinsOverTheApp()
    {
        var response = await Client.GetAsync("/static/hello.txt");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("hello static world", await response.Content.ReadAsStringAsync());
        Assert.NotNull(response.Headers.ETag);
        Assert.NotNull(response.Content.Headers.LastModified);
        Assert.Equal("public, max-age=3600", response.Headers.CacheControl?.ToString());

        var conditional = new HttpRequestMessage(HttpMethod.Get, "/static/hello.txt");
        conditional.Headers.IfNoneMatch.Add(response.Headers.ETag!);
        Assert.Equal(HttpStatusCode.NotModified, (await Client.SendAsync(conditional)).StatusCode);
    }

    [Fact]
    public async Task AFileChangedOrRemoved_IsServedAsItIsNow_OnTheVeryNextRequest()
    {
        // Small files are kept in memory and found by path; each request still checks the file itself.
        var path = Path.Combine(site.Directory, "public", "changing.txt");
        File.WriteAllText(path, "first version");
        Assert.Equal("first version", await Client.GetStringAsync("/static/changing.txt"));
        Assert.Equal("first version", await Client.GetStringAsync("/static/changing.txt"));

        File.WriteAllText(path, "the second, longer version");
        Assert.Equal("the second, longer version", await Client.GetStringAsync("/static/changing.txt"));

        // Same length, later mtime: still noticed.
        File.WriteAllText(path, "THE SECOND, LONGER VERSION");
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(1));
        Assert.Equal("THE SECOND, LONGER VERSION", await Client.GetStringAsync("/static/changing.txt"));

        File.Delete(path);
        Assert.Equal(HttpStatusCode.NotFound, (await Client.GetAsync("/static/changing.txt")).StatusCode);
    }

    [Fact]
    public async Task AServedFileReplacedByALinkOutsideTheRoot_IsRefusedWithinTheContainmentWindow()
    {
        var path = Path.Combine(site.Directory, "public", "swapped.txt");
        File.WriteAllText(path, "inside");
        Assert.Equal("inside", await Client.GetStringAsync("/static/swapped.txt"));
        Assert.Equal("inside", await Client.GetStringAsync("/static/swapped.txt")); // now kept in memory

        File.Delete(path);
        File.CreateSymbolicLink(path, Path.Combine(site.Directory, "secret", "key.txt"));
        // Symlink verdicts are reused for up to a second (ContainedFileProvider.ContainmentValidity), no longer.
        await Eventually.True(async () => (await Client.GetAsync("/static/swapped.txt")).StatusCode == HttpStatusCode.NotFound,
            TimeSpan.FromSeconds(5), "the link leaving the root to be refused");

        File.Delete(path);
        Directory.CreateDirectory(path);
        // A directory now: whatever answers, it is not the bytes kept for the file.
        var directory = await Client.GetAsync("/static/swapped.txt");
        Assert.NotEqual("inside", await directory.Content.ReadAsStringAsync());
        Directory.Delete(path);
    }

    [Fact]
    public async Task SingleRange_Gets206()
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/static/hello.txt");
        request.Headers.Range = new RangeHeaderValue(6, 11);
        var response = await Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal("static", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task DirectoryUrl_ServesTheIndexFile_AndWithoutItsSlashIsRedirected()
    {
        Assert.Equal("<h1>docs</h1>", await Client.GetStringAsync("/static/docs/"));
        using var noRedirects = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = Client.BaseAddress };
        var bare = await noRedirects.GetAsync("/static/docs?page=2");
        Assert.Equal(HttpStatusCode.MovedPermanently, bare.StatusCode);
        Assert.EndsWith("/static/docs/?page=2", bare.Headers.Location!.ToString());
        Assert.Equal(HttpStatusCode.NotFound, (await noRedirects.GetAsync("/static/docs/missing/")).StatusCode);
    }

    [Fact]
    public async Task PrecompressedSibling_IsServedToClientsThatAcceptIt()
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/static/app.css");
        request.Headers.AcceptEncoding.ParseAdd("gzip");
        var response = await Client.SendAsync(request);
        Assert.Equal("gzip", response.Content.Headers.ContentEncoding.Single());
        Assert.Equal("text/css", response.Content.Headers.ContentType?.MediaType);
        using var unzip = new GZipStream(await response.Content.ReadAsStreamAsync(), CompressionMode.Decompress);
        Assert.Equal("/* precompressed */", await new StreamReader(unzip).ReadToEndAsync());
        Assert.Equal("body {}", await Client.GetStringAsync("/static/app.css"));
    }

    [Theory]
    [InlineData("/static/escape.txt")]
    [InlineData("/static/../secret/key.txt")]
    [InlineData("/static/%2e%2e/secret/key.txt")]
    [InlineData("/static/..%2fsecret/key.txt")]
    [InlineData("/static/..%5csecret%5ckey.txt")]
    [InlineData("/static/hello.txt%00.png")]
    public async Task PathsLeavingTheRoot_AreRefused(string target)
    {
        var (responses, closed) = await RawHttp.ExchangeAsync(site.Server.BaseAddress,
            Encoding.ASCII.GetBytes($"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n"), 1, TimeSpan.FromSeconds(10));
        // Refused, or (once Kestrel resolved the dot segments) outside /static and so the app's: never the file.
        Assert.True(responses.Count == 1 || closed);
        Assert.DoesNotContain(responses, r => r.BodyText.Contains("top secret"));
    }

    [Fact]
    public async Task BuiltInConfig_ServesTheSampleSite()
    {
        await using var server = await GunicornServer.StartAsync([]);
        Assert.Contains("gunicorn-net is serving static files", await server.Client.GetStringAsync("/static/"));
        Assert.StartsWith("Hello from gunicorn-net", await server.Client.GetStringAsync("/"));
    }

    [Fact]
    public async Task SymlinkInsideTheRoot_IsServed_AndMissingFilesAre404NotTheApp()
    {
        Assert.Equal("hello static world", await Client.GetStringAsync("/static/inside.txt"));
        var missing = await Client.GetAsync("/static/nope.txt");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.DoesNotContain("\"pid\"", await missing.Content.ReadAsStringAsync());
        Assert.Contains("\"pid\"", await Client.GetStringAsync("/elsewhere"));
    }

    [Fact]
    public async Task DotNames_AreNotServed_WhereverTheyAre_ExceptWellKnown()
    {
        foreach (var path in new[] { "/static/.env", "/static/.git/config", "/static/.private/", "/static/.private/index.html" })
        {
            var hidden = await Client.GetAsync(path);
            Assert.True(hidden.StatusCode == HttpStatusCode.NotFound, $"{path}: {hidden.StatusCode}");
            Assert.DoesNotContain("hunter2", await hidden.Content.ReadAsStringAsync());
        }
        Assert.StartsWith("Contact:", await Client.GetStringAsync("/static/.well-known/security.txt"));
    }
}
