using Microsoft.Extensions.FileProviders;
using Microsoft.Net.Http.Headers;

namespace Gunicorn.Front.Hosting;

/// <summary>
/// Requests run on the event thread their socket woke (see FrontSocketEngine). Work that costs as much CPU as dozens
/// of proxied requests (a large static file copied through user space, a response compressed on the fly) leaves it
/// for the thread pool: the event thread goes on serving its other connections, and that work can use the other
/// cores. On this project's 2-core machine, with one event thread, a 1 MiB file served inline ran at 0.67x nginx's
/// MiB/s; small files and proxied requests stay inline, where a thread hop would cost more than the work.
/// </summary>
public static class OffEventThread
{
    /// <summary>Files above this size are sent from the thread pool.</summary>
    public const long LargeFileBytes = 64 * 1024;

    /// <summary>Moves a request for a large file in <paramref name="files"/> to the thread pool.</summary>
    public static async Task ForLargeFilesAsync(HttpContext context, Func<Task> next, IFileProvider files)
    {
        // Unless the kernel sends it (sendfile): then there is nothing to copy, and a hop would only cost.
        if (context.Request.Path.Value is { Length: > 1 } path && context.Features.Get<Static.SendfileResponseBody>() is null
            && files.GetFileInfo(path) is { Exists: true, Length: > LargeFileBytes })
        {
            await Task.Yield();
        }
        await next();
    }

    /// <summary>Moves a request whose response may be compressed (the client accepts gzip or br) to the thread pool.</summary>
    public static async Task ForCompressionAsync(HttpContext context, Func<Task> next)
    {
        var accepted = context.Request.Headers[HeaderNames.AcceptEncoding].ToString();
        if (accepted.Contains("gzip", StringComparison.OrdinalIgnoreCase) || accepted.Contains("br", StringComparison.OrdinalIgnoreCase))
        {
            await Task.Yield();
        }
        await next();
    }
}
