using Gunicorn.Shared.Contract;
using Gunicorn.Shared.Hooks;
using Gunicorn.Settings.Records;

namespace Gunicorn.Backend.Arbiter;

/// <summary>
/// One generation of workers and the configuration it was started from. Every worker of a generation (its first
/// boots, respawns after a crash, max_requests replacements) runs this configuration: a reload whose generation fails
/// to boot is abandoned with its configuration, and the generation still serving goes on exactly as before.
/// </summary>
/// <param name="python">The interpreter located for a Python app (once per generation, in the master); null otherwise.</param>
public sealed class WorkerGeneration(int number, GunicornConfig config, PythonInterpreter? python)
{
    public int Number { get; } = number;

    public GunicornConfig Config { get; } = config;

    public PythonInterpreter? Python { get; } = python;

    /// <summary>The command hooks of this configuration (hook_timeout and raw_env are part of it).</summary>
    public HookRunner Hooks { get; } = new(config.Hooks.TimeoutSeconds, start => RawEnvironment.ApplyTo(start, config.Pool.RawEnv));

    /// <summary>How many workers this generation keeps; starts at <c>workers</c>, TTIN/TTOU and <c>ctl scale</c> change it.</summary>
    public int TargetWorkers { get; set; } = config.Pool.Workers;

    public override string ToString() => $"generation {Number}";

    /// <summary>A generation for <paramref name="config"/>; a Python app's interpreter is located here, once.</summary>
    /// <exception cref="Backend.Python.PythonUnavailableException">The app is a Python app and its interpreter cannot be embedded.</exception>
    public static WorkerGeneration Create(int number, GunicornConfig config) =>
        new(number, config, config.App.Target is { } app && WorkerContract.IsPythonApp(app) ? Backend.Python.PythonLocator.Locate(config.App.Python) : null);
}
