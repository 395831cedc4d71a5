using Gunicorn.Front.Forwarding.Transport;

namespace Gunicorn.Tests.Front.Transport;

/// <summary>The worker's name read from a request URI as written: always what Uri's own host parsing gives.</summary>
public class WorkerKeyTests
{
    [Theory]
    [InlineData("http://g1-w3/", "g1-w3")]
    [InlineData("http://g1-w3/path/with%2Fslash?q=1", "g1-w3")]
    [InlineData("http://G1-W3:8080/x", "g1-w3")]
    [InlineData("http://w1?x=1", "w1")]
    [InlineData("http://w1#fragment", "w1")]
    [InlineData("http://user:secret@w1/", "w1")]
    [InlineData("http://[::1]:80/", "::1")]
    [InlineData("HTTP://W2/", "w2")]
    public void IsTheHostUriWouldGive(string uri, string expected)
    {
        var parsed = new Uri(uri);
        var key = WorkerHttpHandler.WorkerKey(parsed).ToString();
        Assert.Equal(expected, key, ignoreCase: true);
        Assert.Equal(parsed.IdnHost, key, ignoreCase: true);
    }
}
