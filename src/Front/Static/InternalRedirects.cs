using Gunicorn.Shared.Logging;
using Gunicorn.Settings.Types;
using Microsoft.Extensions.Primitives;

namespace Gunicorn.Front.Static;

/// <summary>
/// nginx's <c>X-Accel-Redirect</c> (and lighttpd's <c>X-Sendfile</c>): the app authorises a download and names the
/// file; the front serves it from a static mapping (typically an <c>internal</c> one, which clients cannot reach
/// directly), so the worker is free as soon as it has answered and the file goes out at the client's pace with
/// ranges and conditional requests. The app's body is discarded; the headers never reach the client.
/// </summary>
public sealed class InternalRedirects
{
    public const string AccelRedirectHeader = "X-Accel-Redirect", SendfileHeader = "X-Sendfile";

    /// <summary>The app's headers that survive the redirect, as nginx keeps them; the file supplies the rest.</summary>
    private static readonly string[] KeptHeaders = ["Content-Type", "Content-Disposition", "Cache-Control", "Expires", "Set-Cookie"];

    private const string KeptHeadersKey = "gunicorn-net.internal-redirect.headers";

    /// <summary>Looked for on every worker response, in this order: a static array, so the hot path allocates nothing.</summary>
    private static readonly string[] RedirectHeaders = [AccelRedirectHeader, SendfileHeader];

    private readonly IReadOnlyList<StaticMapping> _mappings;
    private readonly RequestDelegate _serve;

    private InternalRedirects(IReadOnlyList<StaticMapping> mappings, RequestDelegate serve)
    {
        _mappings = mappings;
        _serve = serve;
    }

    /// <summary>The worker's answer named a file: what it named, and the headers it set that the file response keeps.</summary>
    public sealed record Redirect(string Header, string Target, IReadOnlyList<KeyValuePair<string, StringValues>> Headers);

    /// <summary>
    /// Builds the pipeline that serves redirects: the same static file handling clients get, for every mapping,
    /// internal ones included, on a branch of its own.
    /// </summary>
    public static InternalRedirects Create(IApplicationBuilder app, IReadOnlyList<StaticMapping> mappings,
        Action<IApplicationBuilder, StaticMapping> serveFiles)
    {
        var branch = app.New();
        foreach (var mapping in mappings)
        {
            branch.Map(mapping.UrlPrefix.TrimEnd('/'), files =>
            {
                files.Use((context, next) =>
                {
                    context.Response.OnStarting(() => KeepAppHeaders(context));
                    return next(context);
                });
                serveFiles(files, mapping);
            });
        }
        branch.Run(context =>
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        });
        return new InternalRedirects(mappings, branch.Build());
    }

    /// <summary>Reads a worker response's redirect header, if any (X-Accel-Redirect wins over X-Sendfile).</summary>
    public static Redirect? From(HttpResponseMessage response)
    {
        if (!NamesARedirect(response.Headers.NonValidated))
        {
            return null; // almost every answer: looked for by name, without parsing the two header names per response
        }
        foreach (var header in RedirectHeaders)
        {
            if (response.Headers.TryGetValues(header, out var values) && values.FirstOrDefault() is { Length: > 0 } target)
            {
                var kept = new List<KeyValuePair<string, StringValues>>();
                foreach (var name in KeptHeaders)
                {
                    if (response.Headers.TryGetValues(name, out var value) || response.Content.Headers.TryGetValues(name, out value))
                    {
                        kept.Add(KeyValuePair.Create(name, new StringValues(value.ToArray())));
                    }
                }
                return new Redirect(header, target, kept);
            }
        }
        return null;
    }

    private static bool NamesARedirect(System.Net.Http.Headers.HttpHeadersNonValidated headers)
    {
        foreach (var (name, _) in headers)
        {
            foreach (var redirectHeader in RedirectHeaders)
            {
                if (name.Equals(redirectHeader, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }
        return false;
    }

    /// <summary>Serves the file a worker named, or 404 with the reason in the error log.</summary>
    public Task ServeAsync(HttpContext context, Redirect redirect)
    {
        if (Resolve(redirect) is not { } path)
        {
            ErrorLog.Warning($"{redirect.Header}: {redirect.Target} (answer to {context.Request.Method} {context.Request.Path}) " +
                "is not under a static mapping; the client gets 404. Map its directory under `static` with `internal: true`.");
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }
        // nginx serves the redirect as a GET (a POST may authorise a download), a HEAD stays a HEAD.
        if (!HttpMethods.IsHead(context.Request.Method))
        {
            context.Request.Method = HttpMethods.Get;
        }
        context.Request.Path = path;
        context.Request.QueryString = QueryString.Empty;
        context.Items[KeptHeadersKey] = redirect.Headers;
        context.Response.StatusCode = StatusCodes.Status200OK;
        return ServeOrExplainAsync(context, redirect);
    }

    private async Task ServeOrExplainAsync(HttpContext context, Redirect redirect)
    {
        await _serve(context);
        if (context.Response.StatusCode == StatusCodes.Status404NotFound)
        {
            ErrorLog.Warning($"{redirect.Header}: {redirect.Target} names no file in its static mapping; the client gets 404.");
        }
    }

    /// <summary>The URL path to serve: an X-Accel-Redirect URI under a mapped prefix, or an X-Sendfile file under a mapped root.</summary>
    private PathString? Resolve(Redirect redirect)
    {
        if (redirect.Header == AccelRedirectHeader)
        {
            var uri = redirect.Target.Split('?', 2)[0];
            var decoded = Uri.UnescapeDataString(uri);
            return _mappings.Any(m => decoded.StartsWith(m.UrlPrefix, StringComparison.Ordinal)) ? new PathString(decoded) : null;
        }
        if (!Path.IsPathFullyQualified(redirect.Target))
        {
            return null;
        }
        var file = Path.GetFullPath(redirect.Target);
        foreach (var mapping in _mappings)
        {
            var root = Path.TrimEndingDirectorySeparator(mapping.Root) + Path.DirectorySeparatorChar;
            if (file.StartsWith(root, StringComparison.Ordinal))
            {
                return new PathString(mapping.UrlPrefix + file[root.Length..]);
            }
        }
        return null;
    }

    private static Task KeepAppHeaders(HttpContext context)
    {
        if (context.Items[KeptHeadersKey] is IReadOnlyList<KeyValuePair<string, StringValues>> kept && context.Response.StatusCode < 300)
        {
            foreach (var (name, value) in kept)
            {
                context.Response.Headers[name] = value;
            }
        }
        return Task.CompletedTask;
    }
}
