using Gunicorn.Shared.Logging;
using Microsoft.AspNetCore.StaticFiles;

namespace Gunicorn.Front.HttpFeatures;

/// <summary>
/// nginx's <c>error_page</c> for the errors the front produces itself (413, 429, 502, 503, 504): the operator's file
/// as the body, with the status, a Content-Type from its extension and Retry-After where the client may retry.
/// Without a page, the front's short plain-text explanation. Pages are read on use, so editing one needs no reload.
/// </summary>
public sealed class ErrorPages(IReadOnlyDictionary<int, string> pages)
{
    private static readonly FileExtensionContentTypeProvider ContentTypes = new();

    public static readonly ErrorPages None = new(new Dictionary<int, string>());

    /// <summary>Answers with <paramref name="status"/>: the configured page, or <paramref name="text"/> (nothing when null).</summary>
    public async Task WriteAsync(HttpContext context, int status, string? text)
    {
        var response = context.Response;
        response.StatusCode = status;
        if (status is StatusCodes.Status503ServiceUnavailable or StatusCodes.Status429TooManyRequests)
        {
            response.Headers.RetryAfter = "1";
        }
        if (pages.TryGetValue(status, out var page) && context.Request.Method != HttpMethods.Head)
        {
            byte[] body;
            try
            {
                body = await File.ReadAllBytesAsync(page, context.RequestAborted);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                ErrorLog.Error($"error_page for {status}: cannot read \"{page}\": {e.Message}. Fix the file; the plain answer was sent instead.");
                await WriteTextAsync(response, text);
                return;
            }
            response.ContentType = ContentTypes.TryGetContentType(page, out var type) ? type : "text/html";
            response.ContentLength = body.Length;
            await response.Body.WriteAsync(body, context.RequestAborted);
            return;
        }
        await WriteTextAsync(response, text);
    }

    /// <summary>Whether a page replaces the front's answer for this status.</summary>
    public bool Has(int status) => pages.ContainsKey(status);

    private static Task WriteTextAsync(HttpResponse response, string? text) =>
        text is null ? Task.CompletedTask : response.WriteAsync(text);
}
