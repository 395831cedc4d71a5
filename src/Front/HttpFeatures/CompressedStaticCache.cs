using Gunicorn.Front.Static;
using Gunicorn.Settings.Records;
using Gunicorn.Settings.Types;
using Microsoft.AspNetCore.ResponseCompression;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace Gunicorn.Front.HttpFeatures;

/// <summary>
/// A hot static file is compressed once per version and coding, then served from memory: the first compressed answer
/// (from the compression middleware) is kept with its headers, keyed by coding, file, size and mtime, so an edited
/// file is compressed afresh and the old entry ages out. Bounded by <c>compression_cache_size</c> (least recently
/// used entries go first). Conditional and range requests go to the static files handler, which answers them from
/// the file's own validators.
/// </summary>
public sealed class CompressedStaticCache : IDisposable
{
    private static readonly FileExtensionContentTypeProvider ContentTypes = new();
    private static readonly string[] NotReplayed = [HeaderNames.Date, HeaderNames.ContentLength, HeaderNames.TransferEncoding, HeaderNames.Connection, HeaderNames.Server];

    private readonly (PathString Prefix, ContainedFileProvider Files)[] _mappings;
    private readonly CompressionConfig _compression;
    private readonly IResponseCompressionProvider _codings;
    private readonly long _capacity;
    private readonly MemoryCache _entries;

    private sealed record Entry(byte[] Body, KeyValuePair<string, StringValues>[] Headers);

    public CompressedStaticCache(IReadOnlyList<StaticMapping> mappings, CompressionConfig compression, long capacity, IResponseCompressionProvider codings)
    {
        _mappings = mappings.Where(m => !m.Internal).Select(m => (new PathString(m.UrlPrefix.TrimEnd('/')), new ContainedFileProvider(m.Root))).ToArray();
        _compression = compression;
        _codings = codings;
        _capacity = capacity;
        _entries = new MemoryCache(new MemoryCacheOptions { SizeLimit = capacity });
    }

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (Key(context) is not { } key)
        {
            await next(context);
            return;
        }
        if (_entries.TryGetValue(key, out Entry? hit) && hit is not null)
        {
            var response = context.Response;
            foreach (var (name, value) in hit.Headers)
            {
                response.Headers[name] = value;
            }
            response.ContentLength = hit.Body.Length;
            await response.Body.WriteAsync(hit.Body, context.RequestAborted);
            return;
        }
        var client = context.Response.Body;
        var capture = new CapturingStream(client, limit: _capacity / 8);
        context.Response.Body = capture;
        try
        {
            await next(context);
        }
        finally
        {
            context.Response.Body = client;
        }
        var answered = context.Response;
        if (answered.StatusCode == StatusCodes.Status200OK && capture.Captured is { } body
            && answered.Headers.ContentEncoding.Count == 1 && key.StartsWith(answered.Headers.ContentEncoding[0] + "\n", StringComparison.Ordinal))
        {
            var headers = answered.Headers.Where(h => !NotReplayed.Contains(h.Key, StringComparer.OrdinalIgnoreCase)).ToArray();
            _entries.Set(key, new Entry(body, headers), new MemoryCacheEntryOptions { Size = body.Length + 512 });
        }
    }

    /// <summary>The cache key of a request the cache may answer, or null: a plain GET of a compressible static file
    /// in a coding the client accepts.</summary>
    private string? Key(HttpContext context)
    {
        var request = context.Request;
        if (!HttpMethods.IsGet(request.Method) || request.Headers.ContainsKey(HeaderNames.Range)
            || request.Headers.ContainsKey(HeaderNames.IfNoneMatch) || request.Headers.ContainsKey(HeaderNames.IfModifiedSince))
        {
            return null;
        }
        foreach (var (prefix, files) in _mappings)
        {
            if (!request.Path.StartsWithSegments(prefix, out var rest) || !rest.HasValue)
            {
                continue;
            }
            var file = files.GetFileInfo(rest.Value!);
            if (!file.Exists || file.IsDirectory || file.Length < _compression.MinLength || file.Length > _capacity / 8
                || !Compressible(rest.Value!) || _codings.GetCompressionProvider(context) is not { } coding)
            {
                return null;
            }
            // The URL names the file: small files come from memory without a physical path, and two of them with the
            // same size and mtime (an unpacked archive, a reproducible build) must not share an entry.
            return $"{coding.EncodingName}\n{request.Path.Value}\n{file.Length}\n{file.LastModified.UtcTicks}";
        }
        return null;
    }

    private bool Compressible(string path)
    {
        if (_compression.Types.Contains("*"))
        {
            return true;
        }
        return ContentTypes.TryGetContentType(path, out var type) && _compression.Types.Contains(type, StringComparer.OrdinalIgnoreCase);
    }

    public void Dispose() => _entries.Dispose();

    /// <summary>Passes writes through and keeps a copy, up to a limit (beyond it, nothing is kept).</summary>
    private sealed class CapturingStream(Stream inner, long limit) : Buffering.WriteOnlyStream
    {
        private MemoryStream? _copy = new();

        public byte[]? Captured => _copy?.ToArray();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Keep(buffer.Span);
            await inner.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count)
        {
            Keep(buffer.AsSpan(offset, count));
            inner.Write(buffer, offset, count);
        }

        private void Keep(ReadOnlySpan<byte> data)
        {
            if (_copy is null)
            {
                return;
            }
            if (_copy.Length + data.Length > limit)
            {
                _copy = null;
                return;
            }
            _copy.Write(data);
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override void Flush() => inner.Flush();
    }
}
