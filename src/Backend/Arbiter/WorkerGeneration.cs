using Gunicorn.Backend.Hooks;
using Gunicorn.Settings.Records;

namespace Gunicorn.Backend.Arbiter;

/// <summary>
/// One generation of workers and the configuration it was started from. Every worker of a generation (its first
/// boots, respawns after a crash, max_requests replacements) runs this configuration: a reload whose generation fails
/// to boot is abandoned with its configuration, and the generation still serving goes on exactly as before.
/// </summary>
public sealed class WorkerGeneration(int number, GunicornConfig config)
{
    public int Number { get; } = number;

    public GunicornConfig Config { get; } = config;

    /// <summary>The command hooks of this configuration (hook_timeout is part of it).</summary>
    public HookRunner Hooks { get; } = new(config.Hooks.TimeoutSeconds, config.Pool.RawEnv);

    /// <summary>How many workers this generation keeps; starts at <c>workers</c>, TTIN/TTOU and <c>ctl scale</c> change it.</summary>
    public int TargetWorkers { get; set; } = config.Pool.Workers;

    public override string ToString() => $"generation {Number}";
}
