using System.Threading.Channels;
using Gunicorn.Shared.Logging;
using Microsoft.Extensions.FileSystemGlobbing;

namespace Gunicorn.Backend.Arbiter;

/// <summary>
/// gunicorn's <c>reload</c>: watches the app's Python files under <c>chdir</c> and <c>pythonpath</c>, and the
/// <c>reload_extra_files</c> globs (<c>**</c> allowed; files created later count), and asks the arbiter for a reload
/// (a new generation, switched to when ready) after a quiet moment, so a save of several files reloads once.
/// </summary>
public sealed class CodeWatcher : IDisposable
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    private readonly List<FileSystemWatcher> _watchers = [];
    private readonly Matcher _extra = new();
    private readonly Timer _debounce;
    private string? _changed;

    public CodeWatcher(ChannelWriter<ArbiterEvent> events, IEnumerable<string> appDirectories, IReadOnlyList<string> extraGlobs, string baseDirectory)
    {
        _debounce = new Timer(_ => events.TryWrite(new CodeChanged(_changed ?? "?")));
        foreach (var glob in extraGlobs)
        {
            _extra.AddInclude(Path.GetRelativePath(baseDirectory, Path.GetFullPath(glob, baseDirectory)));
        }
        foreach (var directory in appDirectories.Append(baseDirectory).Distinct().Where(Directory.Exists))
        {
            var watcher = new FileSystemWatcher(directory)
            {
                IncludeSubdirectories = true,
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size,
            };
            watcher.Changed += (_, e) => OnChange(e.FullPath, baseDirectory);
            watcher.Created += (_, e) => OnChange(e.FullPath, baseDirectory);
            watcher.Renamed += (_, e) => OnChange(e.FullPath, baseDirectory);
            watcher.Deleted += (_, e) => OnChange(e.FullPath, baseDirectory);
            watcher.EnableRaisingEvents = true;
            _watchers.Add(watcher);
        }
        ErrorLog.Info($"Watching for code changes in {string.Join(", ", _watchers.Select(w => w.Path))} (reload)");
    }

    private void OnChange(string path, string baseDirectory)
    {
        var relevant = path.EndsWith(".py", StringComparison.Ordinal)
            || _extra.Match(baseDirectory, path).HasMatches;
        if (!relevant || path.Contains("__pycache__", StringComparison.Ordinal))
        {
            return;
        }
        _changed = path;
        _debounce.Change(Quiet, Timeout.InfiniteTimeSpan);
    }

    public void Dispose()
    {
        _debounce.Dispose();
        foreach (var watcher in _watchers)
        {
            watcher.Dispose();
        }
    }
}
