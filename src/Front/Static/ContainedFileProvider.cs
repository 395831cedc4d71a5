using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.FileProviders.Physical;
using Microsoft.Extensions.Primitives;

namespace Gunicorn.Front.Static;

/// <summary>
/// A physical file provider that refuses anything whose real path (symlinks resolved) leaves the root, and keeps small
/// files in memory so a hot file costs a stat, not an open and a read, per request.
/// </summary>
/// <remarks>
/// Resolving every symlink along a path costs a readlink per path component, so a path's verdict is kept for
/// <see cref="ContainmentValidity"/>, as nginx's open_file_cache keeps its symlink checks: a link replaced to point
/// outside the root is refused at most that long after the change.
/// </remarks>
public sealed class ContainedFileProvider(string root) : IFileProvider
{
    /// <summary>Files up to this size are served from memory, refreshed when their size or mtime changes.</summary>
    public const long CacheLimit = 64 * 1024;

    private readonly string _root = Path.TrimEndingDirectorySeparator(RealPath(root));
    // Dot-named segments are refused by IsSafe, anywhere in the path; the library's filters look only at the last name.
    private readonly PhysicalFileProvider _inner = new(root, ExclusionFilters.None);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, CachedFile> _cache = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (bool Inside, long CheckedAt)> _containment = new();

    public static readonly TimeSpan ContainmentValidity = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Small files by the path they were asked for: a repeat request costs one stat of the file (its size and mtime
    /// still those of the bytes kept) instead of the provider's path resolution, a new FileInfo and the lookups by
    /// physical path. It carries the containment verdict it was found with, reused no longer than
    /// <see cref="ContainmentValidity"/> after that verdict was reached. Only a path in its one spelling is kept (no
    /// empty segment: <c>/a//b</c> names the same file), and at most <see cref="HotLimit"/> of them.
    /// </summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, HotFile> _hot = new(StringComparer.Ordinal);

    /// <summary>Request paths kept in <see cref="_hot"/>; past it the table starts again empty.</summary>
    internal const int HotLimit = 10_000;

    public IFileInfo GetFileInfo(string subpath)
    {
        if (!IsSafe(subpath))
        {
            return new NotFoundFileInfo(subpath);
        }
        if (_hot.TryGetValue(subpath, out var hot) && hot.StillCurrent(Environment.TickCount64) is { } current)
        {
            return current;
        }
        hot?.Forget(_hot, subpath);
        var info = _inner.GetFileInfo(subpath);
        long checkedAt = 0;
        if (!info.Exists || info.PhysicalPath is null || !IsInsideRoot(info.PhysicalPath, out checkedAt))
        {
            return info.Exists ? new NotFoundFileInfo(subpath) : info;
        }
        if (info.IsDirectory || info.Length > CacheLimit)
        {
            return info;
        }
        var cached = _cache.TryGetValue(info.PhysicalPath, out var old) && old.Matches(info) ? old : CachedFile.Load(info);
        _cache[info.PhysicalPath] = cached;
        if (!subpath.Contains("//", StringComparison.Ordinal))
        {
            if (_hot.Count >= HotLimit)
            {
                _hot.Clear();
            }
            _hot[subpath] = new HotFile(info.PhysicalPath, cached, checkedAt);
        }
        return cached;
    }

    public IDirectoryContents GetDirectoryContents(string subpath) =>
        IsSafe(subpath) ? _inner.GetDirectoryContents(subpath) : NotFoundDirectoryContents.Singleton;

    public IChangeToken Watch(string filter) => NullChangeToken.Singleton;

    /// <summary>
    /// Backslashes and NUL never name a file here, nor does a segment starting with a dot: <c>..</c> (Kestrel resolves
    /// dot segments before we see them, X-Accel-Redirect targets are ours to check) and hidden names such as
    /// <c>.env</c> or <c>.git/config</c>, wherever they are in the path. <c>.well-known</c> (RFC 8615: ACME challenges,
    /// security.txt) is the one dot name that is meant to be public.
    /// </summary>
    private static bool IsSafe(string subpath)
    {
        var path = subpath.AsSpan();
        if (path.IndexOfAny('\\', '\0') >= 0)
        {
            return false;
        }
        foreach (var range in path.Split('/'))
        {
            var segment = path[range];
            if (segment.StartsWith('.') && !segment.SequenceEqual(".well-known"))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Whether the file is under the root, and when that was last found out (a verdict is kept a while).</summary>
    private bool IsInsideRoot(string physicalPath, out long checkedAt)
    {
        var now = Environment.TickCount64;
        if (_containment.TryGetValue(physicalPath, out var verdict) && now - verdict.CheckedAt < ContainmentValidity.TotalMilliseconds)
        {
            checkedAt = verdict.CheckedAt;
            return verdict.Inside;
        }
        var real = RealPath(physicalPath);
        var inside = real.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal) || real == _root;
        _containment[physicalPath] = (inside, now);
        checkedAt = now;
        return inside;
    }

    /// <summary>The path with every symlink along it resolved.</summary>
    private static string RealPath(string path)
    {
        var full = Path.GetFullPath(path);
        var parts = full.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var current = "/";
        foreach (var part in parts)
        {
            current = Path.Combine(current, part);
            var info = new FileInfo(current);
            if (info.LinkTarget is not null)
            {
                var target = info.ResolveLinkTarget(returnFinalTarget: true);
                current = target?.FullName ?? current;
            }
        }
        return current;
    }

    /// <summary>A small file found by its request path, with the stat that tells whether its kept bytes are current.</summary>
    private sealed class HotFile(string physicalPath, CachedFile cached, long checkedAt)
    {
        /// <summary>
        /// A FileInfo is refreshed in place, so two threads cannot share one. Each check takes this one, or makes its
        /// own while another thread holds it: with several event threads (front_threads) a lock here had them spin
        /// and sched_yield on every hot file they both served.
        /// </summary>
        private FileInfo? _idle = new(physicalPath);

        /// <summary>Takes this entry out of the table (the file changed, went away or needs its containment checked again).</summary>
        public void Forget(System.Collections.Concurrent.ConcurrentDictionary<string, HotFile> table, string subpath) =>
            table.TryRemove(KeyValuePair.Create(subpath, this));

        /// <summary>The kept file when it has not changed and its containment verdict is recent; null otherwise.</summary>
        public CachedFile? StillCurrent(long now)
        {
            if (now - checkedAt >= ContainmentValidity.TotalMilliseconds)
            {
                return null;
            }
            var file = Interlocked.Exchange(ref _idle, null) ?? new FileInfo(physicalPath);
            file.Refresh();
            var unchanged = file.Exists && file.Length == cached.Length && file.LastWriteTimeUtc == cached.LastModified.UtcDateTime;
            Volatile.Write(ref _idle, file);
            return unchanged ? cached : null;
        }
    }

    /// <summary>A small file's bytes, with the size and mtime they were read at.</summary>
    private sealed class CachedFile(IFileInfo source, byte[] bytes) : IFileInfo
    {
        public static CachedFile Load(IFileInfo info) => new(info, File.ReadAllBytes(info.PhysicalPath!));

        public bool Matches(IFileInfo current) => current.Length == Length && current.LastModified == LastModified;

        public bool Exists => true;
        public long Length { get; } = bytes.Length;
        // No physical path: the static file middleware then sends these bytes instead of opening the file again.
        public string? PhysicalPath => null;
        public string Name => source.Name;
        public DateTimeOffset LastModified { get; } = source.LastModified;
        public bool IsDirectory => false;

        public Stream CreateReadStream() => new MemoryStream(bytes, writable: false);
    }
}
