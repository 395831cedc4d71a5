using System.Text;
using Gunicorn.Front.Forwarding.Transport;

namespace Gunicorn.Tests.Front.Transport;

/// <summary>
/// The request target the transport writes: sliced from the URI without Uri's parsing when that changes nothing,
/// and always the same characters as Uri.PathAndQuery, so the worker sees what it saw when Uri built it.
/// </summary>
public class RequestTargetTests
{
    [Theory]
    [InlineData("/", true)]
    [InlineData("/hello?name=world&x=1", true)]
    [InlineData("/a%2Fb%3A%C3%A9?q=%20%2B%3D%26", true)]
    [InlineData("/a!$'()*+,;=:@b?x=!$'()*+,;=:@/?&", true)]
    [InlineData("/x?a=/../b", true)]
    [InlineData("/a//b", true)]
    [InlineData("/%41b", false)]
    [InlineData("/%7euser", false)]
    [InlineData("/a/./b", false)]
    [InlineData("/a/../b", false)]
    [InlineData("/a/.%2e/b", false)]
    [InlineData("/%2E%2E/x", false)]
    [InlineData("/%c3%a9", false)]
    [InlineData("/a?%41", false)]
    [InlineData("/a?%zz", false)]
    [InlineData("/%zz", false)]
    [InlineData("/%4", false)]
    [InlineData("/a b", false)]
    [InlineData("/a?y=é", false)]
    public void IsWhatUriWouldWrite_SlicedWhenNothingChanges(string target, bool sliced)
    {
        var uri = new Uri("http://g1-w3" + target, UriKind.Absolute);
        var written = RequestHeadWriter.PathAndQuery(uri);
        Assert.Equal(uri.PathAndQuery, written.ToString());
        Assert.Equal(sliced, written.Overlaps(uri.OriginalString.AsSpan()));
    }

    [Fact]
    public void HeaderValues_RepeatedValueIsTheSameString_AChangedOneIsNew()
    {
        var cache = new HeaderValueCache();
        var first = cache.Get("Date", "Sat, 05 Dec 2026 18:00:00 GMT"u8, knownName: true);
        var again = cache.Get("Date", "Sat, 05 Dec 2026 18:00:00 GMT"u8, knownName: true);
        Assert.Same(first, again);
        var later = cache.Get("Date", "Sat, 05 Dec 2026 18:00:01 GMT"u8, knownName: true);
        Assert.Equal("Sat, 05 Dec 2026 18:00:01 GMT", later);
        Assert.NotSame(first, later);
        // Obs-text is decoded as Latin-1 and never mistaken for the cached ASCII value.
        var latin = cache.Get("Server", Encoding.Latin1.GetBytes("caf\u00e9"), knownName: true);
        Assert.Equal("caf\u00e9", latin);
        Assert.Equal("", cache.Get("Vary", ReadOnlySpan<byte>.Empty, knownName: true));
        // More distinct headers than slots: each still gets its own value.
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal($"v{i}", cache.Get($"Name-{i}", Encoding.ASCII.GetBytes($"v{i}"), knownName: true));
        }
    }
}
