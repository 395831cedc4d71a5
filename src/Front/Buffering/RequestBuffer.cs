using Gunicorn.Settings.Records;
using Microsoft.AspNetCore.Http.Features;

namespace Gunicorn.Front.Buffering;

/// <summary>
/// Request buffering: the whole body is read at the front, at the client's pace, before a worker is chosen, so a slow
/// upload never holds a sync worker. The worker then gets the body with a Content-Length. Trailers are checked too:
/// fields that frame or route a message are not allowed there (RFC 9110 section 6.5.1).
/// </summary>
public static class RequestBuffer
{
    private static readonly string[] ForbiddenTrailers =
        ["Host", "Content-Length", "Transfer-Encoding", "Content-Type", "Content-Encoding", "Content-Range", "Trailer",
         "Authorization", "Cookie", "Set-Cookie", "Cache-Control", "Expect", "Max-Forwards", "Pragma", "Range", "TE"];

    /// <summary>Null when the request has no body or buffering is off; otherwise the buffer, or an error status.</summary>
    public static async ValueTask<(SpillingBuffer? Buffer, int? Refusal)> ReadAsync(HttpContext context, LimitsConfig limits, bool enabled)
    {
        var request = context.Request;
        var hasBody = request.ContentLength > 0 || request.Headers.ContainsKey("Transfer-Encoding");
        if (!enabled || !hasBody)
        {
            return (null, null);
        }
        if (Gunicorn.Shared.Logging.ErrorLog.DebugEnabled)
        {
            Gunicorn.Shared.Logging.ErrorLog.Debug($"Buffering the request body of {request.Method} {request.Path} before choosing a worker");
        }
        var buffer = new SpillingBuffer(limits.RequestBufferSize, limits.TmpUploadDir);
        var chunk = System.Buffers.ArrayPool<byte>.Shared.Rent(SpillingBuffer.ChunkSize);
        try
        {
            return await ReadAllAsync(context, limits, buffer, chunk);
        }
        catch (BadHttpRequestException e)
        {
            // Bad framing (a chunk size that is not hex, a body past client_max_body_size): the client's fault.
            await buffer.DisposeAsync();
            return (null, e.StatusCode);
        }
        catch (IOException) when (!context.RequestAborted.IsCancellationRequested)
        {
            // Kestrel reports a chunk size too large for its parser as an IOException ("Bad chunk size data").
            await buffer.DisposeAsync();
            return (null, StatusCodes.Status400BadRequest);
        }
        catch
        {
            // The client went away: nothing is left behind (no spill file, no descriptor).
            await buffer.DisposeAsync();
            throw;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    private static async Task<(SpillingBuffer? Buffer, int? Refusal)> ReadAllAsync(
        HttpContext context, LimitsConfig limits, SpillingBuffer buffer, byte[] chunk)
    {
        var request = context.Request;
        while (true)
        {
            // client_body_timeout: the longest pause between two reads, as nginx.
            using var pause = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
            pause.CancelAfter(TimeSpan.FromSeconds(limits.BodyTimeoutSeconds));
            int read;
            try
            {
                read = await request.Body.ReadAsync(chunk, pause.Token);
            }
            catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
            {
                await buffer.DisposeAsync();
                return (null, StatusCodes.Status408RequestTimeout);
            }
            if (read == 0)
            {
                break;
            }
            try
            {
                await buffer.WriteAsync(chunk.AsMemory(0, read), context.RequestAborted);
            }
            catch (IOException e)
            {
                // The temporary directory is full (or failing): not the client's fault, and not for the app to see.
                Gunicorn.Shared.Logging.ErrorLog.Error(
                    $"Cannot buffer the body of {request.Method} {request.Path} in {limits.TmpUploadDir ?? Path.GetTempPath()}: {e.Message}. The client gets 507; " +
                    "free space there, or point TMPDIR at a larger directory.");
                await buffer.DisposeAsync();
                return (null, StatusCodes.Status507InsufficientStorage);
            }
        }
        var trailers = context.Features.Get<IHttpRequestTrailersFeature>();
        if (trailers is { Available: true } && trailers.Trailers.Keys.Any(k => ForbiddenTrailers.Contains(k, StringComparer.OrdinalIgnoreCase)))
        {
            await buffer.DisposeAsync();
            return (null, StatusCodes.Status400BadRequest);
        }
        request.Body = buffer.OpenRead();
        request.Headers.Remove("Transfer-Encoding");
        request.ContentLength = buffer.Length;
        return (buffer, null);
    }
}
