using System.Collections.Frozen;
using System.Runtime.CompilerServices;
using Gunicorn.Settings.Sections;

namespace Gunicorn.Settings.Registry;

/// <summary>Every setting, declared as static fields of the section classes in <c>Gunicorn.Settings.Sections</c>.</summary>
public static class SettingsRegistry
{
    /// <summary>All settings, in docs order: by section, then by declaration.</summary>
    public static readonly IReadOnlyList<SettingDefinition> All = Declare();

    public static readonly FrozenDictionary<string, SettingDefinition> ByKey = All.ToFrozenDictionary(s => s.Key);

    public static readonly FrozenDictionary<string, SettingDefinition> ByFlag = All
        .SelectMany(s => s.Cli.Select(flag => KeyValuePair.Create(flag, s)))
        .ToFrozenDictionary();

    private static List<SettingDefinition> Declare()
    {
        // Initializing a section class runs its field initializers in declaration order; each setting adds itself.
        // (Named one by one: a native build keeps only the class constructors it can see. A test checks none is missing.)
        RuntimeHelpers.RunClassConstructor(typeof(ConfigFileSettings).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(DebuggingSettings).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(FrontHttpSettings).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(FrontLimitSettings).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(FrontStaticSettings).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(InstrumentationSettings).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(LoggingSettings).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(ProcessNamingSettings).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(ProxySettings).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(RefusedSettings).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(InherentSettings).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(Http2Settings).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(AsgiSettings).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(SyslogSettings).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(SecuritySettings).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(ServerHookSettings).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(ServerMechanicsSettings).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(ServerSocketSettings).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(SslSettings).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(WorkerProcessSettings).TypeHandle);
        return SettingDefinition.Declared.OrderBy(s => s.Section.Order).ToList(); // a stable sort: declaration order within a section
    }
}
