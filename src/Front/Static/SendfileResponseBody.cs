using Gunicorn.Front.Listeners;
using Microsoft.AspNetCore.Http.Features;

namespace Gunicorn.Front.Static;

/// <summary>
/// The response body of a plaintext HTTP/1.1 request on a connection with a <see cref="SendfileOutput"/>: what the
/// static files (and X-Accel-Redirect answers) send with <c>SendFileAsync</c> goes to the kernel with sendfile(2);
/// every other write passes to Kestrel's body unchanged. Installed first, so that compression (when it applies)
/// wraps it and compresses instead.
/// </summary>
public sealed class SendfileResponseBody(IHttpResponseBodyFeature inner, SendfileOutput output, HttpContext context) : IHttpResponseBodyFeature
{
    /// <summary>The request's body goes through sendfile when it can: HTTP/1.1 (HTTP/2 frames its data) on a connection with the loop.</summary>
    public static void InstallFor(HttpContext context)
    {
        if (context.Features.Get<SendfileOutput>() is { } output && HttpProtocol.IsHttp11(context.Request.Protocol)
            && context.Features.Get<IHttpResponseBodyFeature>() is { } inner)
        {
            var body = new SendfileResponseBody(inner, output, context);
            context.Features.Set<IHttpResponseBodyFeature>(body);
            context.Features.Set(body);
        }
    }

    public Stream Stream => inner.Stream;

    public System.IO.Pipelines.PipeWriter Writer => inner.Writer;

    public void DisableBuffering() => inner.DisableBuffering();

    public Task StartAsync(CancellationToken cancellationToken = default) => inner.StartAsync(cancellationToken);

    public Task CompleteAsync() => inner.CompleteAsync();

    public async Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
    {
        // A handle, not a FileStream: an open and an fstat, as nginx's. Asynchronous because SendPacketsElement takes
        // only such files, for what the kernel cannot take at once.
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete,
            FileOptions.Asynchronous);
        var length = count ?? RandomAccess.GetLength(file) - offset;
        if (length <= 0)
        {
            return;
        }
        output.HoldUntilFileSent();
        try
        {
            await inner.StartAsync(cancellationToken);
            await inner.Writer.FlushAsync(cancellationToken);
        }
        catch
        {
            output.LetGo();
            throw;
        }
        var sent = await output.SendFileAsync(file, offset, length);
        if (sent != length)
        {
            // The file shrank (or the client left): a body short of its Content-Length must not look complete.
            context.Abort();
            return;
        }
        // Kestrel counts the body as written (its Content-Length check, the access log) without copying it.
        output.DiscardNext(length);
        var writer = inner.Writer;
        for (var claimed = 0L; claimed < length;)
        {
            var step = (int)Math.Min(writer.GetMemory().Length, length - claimed);
            writer.Advance(step);
            claimed += step;
        }
        if (!output.EndDiscard())
        {
            context.Abort();
        }
    }
}
