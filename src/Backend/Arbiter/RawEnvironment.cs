using System.Diagnostics;

namespace Gunicorn.Backend.Arbiter;

/// <summary>
/// gunicorn's <c>raw_env</c>: set in the master's own environment at start, so every child inherits it. A reload may
/// change or drop entries, so each child (worker or hook) gets the master's environment as it was before raw_env,
/// plus the raw_env of the configuration that child belongs to.
/// </summary>
public static class RawEnvironment
{
    /// <summary>The master's values before raw_env replaced them (null: the variable did not exist).</summary>
    private static readonly Dictionary<string, string?> Before = [];

    /// <summary>At master start: raw_env into the master's own environment.</summary>
    public static void ApplyToMaster(IReadOnlyList<string> rawEnv)
    {
        foreach (var (key, value) in Entries(rawEnv))
        {
            Before.TryAdd(key, Environment.GetEnvironmentVariable(key));
            Environment.SetEnvironmentVariable(key, value);
        }
    }

    /// <summary>
    /// A child's environment (worker or hook): the master's own without the startup raw_env and without the
    /// master-only runtime switches, then <paramref name="rawEnv"/>.
    /// </summary>
    public static void ApplyTo(ProcessStartInfo start, IReadOnlyList<string> rawEnv)
    {
        Platform.FrontSocketEngine.RemoveFrom(start);
        foreach (var (key, original) in Before)
        {
            if (original is null)
            {
                start.Environment.Remove(key);
            }
            else
            {
                start.Environment[key] = original;
            }
        }
        foreach (var (key, value) in Entries(rawEnv))
        {
            start.Environment[key] = value;
        }
    }

    private static IEnumerable<(string Key, string Value)> Entries(IReadOnlyList<string> rawEnv)
    {
        foreach (var entry in rawEnv)
        {
            var equals = entry.IndexOf('=');
            yield return (entry[..equals], entry[(equals + 1)..]);
        }
    }
}
