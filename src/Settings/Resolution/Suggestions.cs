namespace Gunicorn.Settings;

/// <summary>"Did you mean" for misspelt keys and flags: the closest known name by edit distance, if close enough.</summary>
public static class Suggestions
{
    public static string? Closest(string typed, IReadOnlyCollection<string> known)
    {
        var best = known.Select(k => (Name: k, Distance: Distance(typed, k))).MinBy(c => c.Distance);
        if (best.Name is not null && best.Distance <= 2)
        {
            return best.Name;
        }
        // A known name inside the typed one, or the other way round, is the next likeliest intent (worker_timeout -> timeout).
        var contained = known
            .Where(k => k.Length >= 4 && (typed.Contains(k, StringComparison.Ordinal) || k.Contains(typed, StringComparison.Ordinal)))
            .OrderByDescending(k => k.Length)
            .FirstOrDefault();
        if (contained is not null)
        {
            return contained;
        }
        return best.Name is not null && best.Distance <= Math.Max(2, typed.Length / 3) ? best.Name : null;
    }

    public static string DidYouMean(string typed, IReadOnlyCollection<string> known, string orElse = "") =>
        Closest(typed, known) is { } name ? $" Did you mean \"{name}\"?" : orElse;

    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
