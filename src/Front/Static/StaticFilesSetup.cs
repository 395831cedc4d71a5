using Gunicorn.Settings.Types;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Net.Http.Headers;

namespace Gunicorn.Front.Static;

/// <summary>
/// Serves the <c>static</c> mappings before anything is forwarded, as nginx's <c>location /static/ { root ...; }</c>:
/// ETag, Last-Modified, conditional requests, single ranges, index files, Cache-Control, and precompressed
/// <c>.br</c>/<c>.gz</c> siblings. A prefix belongs to the files: a missing file is 404, never the app's.
/// </summary>
public static class StaticFilesSetup
{
    private static readonly FileExtensionContentTypeProvider ContentTypes = new();

    /// <summary>
    /// Maps the public prefixes to their files and the internal ones to 404 (as nginx's <c>internal</c> locations
    /// answer clients); returns what serves X-Accel-Redirect and X-Sendfile answers from any mapping.
    /// </summary>
    public static InternalRedirects Use(WebApplication app, IReadOnlyList<StaticMapping> mappings)
    {
        foreach (var mapping in mappings)
        {
            app.Map(mapping.UrlPrefix.TrimEnd('/'), branch =>
            {
                if (mapping.Internal)
                {
                    branch.Run(NotFoundOrNotAllowed);
                    return;
                }
                ServeFiles(branch, mapping);
            });
        }
        return InternalRedirects.Create(app, mappings, ServeFiles);
    }

    private static void ServeFiles(IApplicationBuilder branch, StaticMapping mapping)
    {
        var files = new ContainedFileProvider(mapping.Root);
        var options = new StaticFileOptions
        {
            FileProvider = files,
            ServeUnknownFileTypes = true,
            OnPrepareResponse = prepared => Prepare(prepared.Context, mapping),
        };
        branch.Use(CompareIfNoneMatchWeakly);
        // Files first: a file's request then costs one lookup; only a URL that names no file asks whether it is a
        // directory with an index file (or without its trailing slash, redirected), then serves that.
        UseFiles(branch, files, options);
        if (mapping.Index is { } index)
        {
            branch.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files, DefaultFileNames = [index] });
            UseFiles(branch, files, options);
        }
        branch.Run(NotFoundOrNotAllowed);
    }

    /// <summary>
    /// If-None-Match compares entity tags weakly (RFC 9110, 13.1.2), the static files handler strongly: without this, a
    /// client holding a compressed copy (whose tag is weak, see Compression) would never get its 304.
    /// </summary>
    private static Task CompareIfNoneMatchWeakly(HttpContext context, Func<Task> next)
    {
        var headers = context.Request.Headers;
        if (headers.IfNoneMatch.Count > 0 && EntityTagHeaderValue.TryParseList(headers.IfNoneMatch, out var tags) && tags.Any(t => t.IsWeak))
        {
            headers.IfNoneMatch = string.Join(", ", tags.Select(t => t.Tag.ToString()));
        }
        return next();
    }

    private static void UseFiles(IApplicationBuilder branch, ContainedFileProvider files, StaticFileOptions options)
    {
        branch.Use((context, next) => PreferPrecompressed(context, next, files));
        branch.Use((context, next) => Hosting.OffEventThread.ForLargeFilesAsync(context, next, files));
        branch.UseStaticFiles(options);
    }

    private static Task NotFoundOrNotAllowed(HttpContext context)
    {
        context.Response.StatusCode = HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method)
            ? StatusCodes.Status404NotFound
            : StatusCodes.Status405MethodNotAllowed;
        return Task.CompletedTask;
    }

    private static void Prepare(HttpContext context, StaticMapping mapping)
    {
        if (mapping.CacheControl is { } cacheControl)
        {
            context.Response.Headers.CacheControl = cacheControl;
        }
        if (context.Items.TryGetValue(PrecompressedKey, out var original) && original is (string encoding, string name))
        {
            context.Response.Headers.ContentEncoding = encoding;
            context.Response.Headers.Append(HeaderNames.Vary, "Accept-Encoding");
            context.Response.ContentType = ContentTypes.TryGetContentType(name, out var type) ? type : "application/octet-stream";
        }
    }

    private const string PrecompressedKey = "gunicorn-net.precompressed";

    /// <summary>When the client accepts br or gzip and a .br/.gz sibling exists, serve that instead (nginx's gzip_static).</summary>
    private static Task PreferPrecompressed(HttpContext context, Func<Task> next, ContainedFileProvider files)
    {
        var path = context.Request.Path.Value;
        var accepted = context.Request.Headers.AcceptEncoding.ToString();
        if (path is { Length: > 1 } && !context.Request.Headers.ContainsKey(HeaderNames.Range))
        {
            foreach (var (encoding, suffix) in new[] { ("br", ".br"), ("gzip", ".gz") })
            {
                if (accepted.Contains(encoding, StringComparison.OrdinalIgnoreCase) && files.GetFileInfo(path + suffix).Exists)
                {
                    context.Items[PrecompressedKey] = (encoding, path);
                    context.Request.Path = path + suffix;
                    break;
                }
            }
        }
        return next();
    }
}
