using System.IO.Compression;
using Gunicorn.Settings.Records;
using Microsoft.AspNetCore.ResponseCompression;
using Microsoft.Extensions.Options;

namespace Gunicorn.Front.HttpFeatures;

/// <summary>
/// nginx's <c>gzip</c> (and ngx_brotli's <c>brotli</c>) through ASP.NET Core's response compression middleware:
/// Accept-Encoding negotiation with q-values (<c>identity;q=0</c>, <c>*</c>), <c>Vary: Accept-Encoding</c>, and
/// no compression for ranges or already-encoded bodies come from the library; this adds nginx's rules on top
/// (<c>gzip_min_length</c>, <c>no-transform</c>, bodiless answers, a weak ETag on what it compressed) and the exact
/// levels of the settings.
/// </summary>
public static class Compression
{
    public static void AddTo(IServiceCollection services, CompressionConfig config)
    {
        services.AddResponseCompression(options =>
        {
            // TLS is this tier's job; BREACH is a property of the app's pages (secrets reflected beside input), as with nginx.
            options.EnableForHttps = true;
            options.MimeTypes = config.Types.Select(t => t == "*" ? "*/*" : t).ToArray();
            if (config.Brotli)
            {
                options.Providers.Add(new BrotliProvider(config.BrotliLevel));
            }
            if (config.Gzip)
            {
                options.Providers.Add(new GzipProvider(config.GzipLevel));
            }
        });
        services.AddSingleton<IResponseCompressionProvider>(sp =>
            new Policy(sp, sp.GetRequiredService<IOptions<ResponseCompressionOptions>>(), config.MinLength));
    }

    private sealed class Policy(IServiceProvider services, IOptions<ResponseCompressionOptions> options, long minLength)
        : ResponseCompressionProvider(services, options)
    {
        public override bool ShouldCompressResponse(HttpContext context)
        {
            var response = context.Response;
            if (HttpMethods.IsHead(context.Request.Method)
                || response.StatusCode is < 200 or StatusCodes.Status204NoContent or StatusCodes.Status304NotModified
                || response.ContentLength < minLength
                || response.Headers.CacheControl.ToString().Contains("no-transform", StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }
            if (!base.ShouldCompressResponse(context))
            {
                return false;
            }
            if (GetCompressionProvider(context) is not null)
            {
                WeakenETag(response);
            }
            return true;
        }

        /// <summary>
        /// A compressed body is not the bytes a strong ETag names, so, as nginx does when it compresses, the ETag
        /// becomes weak: If-None-Match (weak comparison) still revalidates, and If-Range (strong comparison) never
        /// has ranges of the identity file spliced into a compressed copy.
        /// </summary>
        private static void WeakenETag(HttpResponse response)
        {
            var etag = response.Headers.ETag.ToString();
            if (etag.Length > 0 && !etag.StartsWith("W/", StringComparison.Ordinal))
            {
                response.Headers.ETag = "W/" + etag;
            }
        }
    }

    private sealed class GzipProvider(int level) : ICompressionProvider
    {
        public string EncodingName => "gzip";

        public bool SupportsFlush => true;

        public Stream CreateStream(Stream outputStream) =>
            new GZipStream(outputStream, new ZLibCompressionOptions { CompressionLevel = level }, leaveOpen: true);
    }

    private sealed class BrotliProvider(int quality) : ICompressionProvider
    {
        public string EncodingName => "br";

        public bool SupportsFlush => true;

        public Stream CreateStream(Stream outputStream) =>
            new BrotliStream(outputStream, new BrotliCompressionOptions { Quality = quality }, leaveOpen: true);
    }
}
