using System.Reflection;
using System.Reflection.Emit;
using Gunicorn.Settings.Records;
using Gunicorn.Settings.Registry;

namespace Gunicorn.Tests.Settings;

/// <summary>
/// Every setting must do something: known to the registry when gunicorn knows it, and, when supported, carried by
/// the runtime records (<see cref="RegistryInvariantTests"/>) into a member that the runtime actually reads. A new
/// setting bound into a record that no code reads fails here, as does a supported setting that nothing binds.
/// </summary>
public class RuntimeConsumerTests
{
    /// <summary>gunicorn 26's KNOWN_SETTINGS (gunicorn/config.py, 119 on its main branch of 2026-08).</summary>
    private static readonly string[] GunicornSettings = (
        "config wsgi_app bind backlog workers worker_class threads worker_connections max_requests "
        + "max_requests_jitter timeout graceful_timeout keepalive limit_request_line limit_request_fields "
        + "limit_request_field_size reload reload_engine reload_extra_files spew check_config print_config "
        + "preload_app sendfile reuse_port chdir daemon raw_env pidfile worker_tmp_dir user group umask initgroups "
        + "tmp_upload_dir secure_scheme_headers forwarded_allow_ips accesslog disable_redirect_access_to_syslog "
        + "access_log_format errorlog loglevel capture_output logger_class logconfig logconfig_dict logconfig_json "
        + "syslog_addr syslog syslog_prefix syslog_facility enable_stdio_inheritance statsd_host dogstatsd_tags "
        + "statsd_prefix enable_backlog_metric proc_name default_proc_name pythonpath paste on_starting on_reload "
        + "when_ready pre_fork post_fork post_worker_init worker_int worker_abort pre_exec pre_request post_request "
        + "child_exit worker_exit nworkers_changed on_exit ssl_context proxy_protocol proxy_allow_ips protocol "
        + "uwsgi_allow_ips keyfile certfile ssl_version cert_reqs ca_certs suppress_ragged_eofs "
        + "do_handshake_on_connect ciphers http_protocols http2_cleartext http2_max_concurrent_streams "
        + "http2_initial_window_size http2_max_frame_size http2_max_header_list_size raw_paste_global_conf "
        + "permit_obsolete_folding strip_header_spaces permit_unconventional_http_method "
        + "permit_unconventional_http_version casefold_http_method forwarder_headers header_map asgi_loop "
        + "asgi_lifespan asgi_disconnect_grace_period http_parser root_path dirty_apps dirty_workers dirty_timeout "
        + "dirty_threads dirty_graceful_timeout on_dirty_starting dirty_post_fork dirty_worker_init dirty_worker_exit "
        + "control_socket control_socket_mode control_socket_disable").Split(' ');

    [Fact]
    public void EveryGunicornSetting_IsKnown_HonouredOrRefusedWithAReason()
    {
        Assert.Equal(119, GunicornSettings.Distinct().Count());
        var unknown = GunicornSettings.Where(k => !SettingsRegistry.ByKey.ContainsKey(k)).ToList();
        Assert.True(unknown.Count == 0, "unknown gunicorn settings: " + string.Join(", ", unknown));
        foreach (var refused in SettingsRegistry.All.Where(s => !s.Status.IsSupported))
        {
            Assert.False(string.IsNullOrWhiteSpace(refused.Status.Reason), refused.Key);
        }
    }

    [Fact]
    public void EveryRecordMember_IsReadByTheRuntime()
    {
        var reads = RuntimeReads();
        var unread = Leaves(typeof(GunicornConfig), "config")
            .Where(leaf => !reads.Contains(leaf.Getter))
            .Select(leaf => leaf.Path)
            .ToList();
        Assert.True(unread.Count == 0, "record members no runtime code reads (a setting accepted and ignored?): " + string.Join(", ", unread));
    }

    private static readonly string[] RuntimeAssemblies = ["gunicorn-net", "Gunicorn.Backend"];

    /// <summary>The positional members of the config records, down to the values (GunicornConfig.Listeners.Tls.CertFile).</summary>
    private static IEnumerable<(string Path, MethodInfo Getter)> Leaves(Type record, string path)
    {
        var constructor = record.GetConstructors().OrderByDescending(c => c.GetParameters().Length).First();
        foreach (var parameter in constructor.GetParameters())
        {
            var property = record.GetProperty(parameter.Name!)!;
            var memberPath = $"{path}.{property.Name}";
            if (property.PropertyType.Namespace == typeof(GunicornConfig).Namespace && property.PropertyType.IsClass)
            {
                yield return (memberPath, property.GetMethod!);
                foreach (var leaf in Leaves(property.PropertyType, memberPath))
                {
                    yield return leaf;
                }
            }
            else if (property.Name != "ConfigSource")
            {
                yield return (memberPath, property.GetMethod!);
            }
        }
    }

    /// <summary>
    /// Every method the runtime calls, read from its IL: all methods of the front and backend assemblies, and,
    /// transitively, the hand-written members of the config records they call (e.g. TlsConfig.Enabled reads CertFile).
    /// </summary>
    private static HashSet<MethodBase> RuntimeReads()
    {
        var called = new HashSet<MethodBase>();
        var pending = new Queue<MethodBase>();
        foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies().Concat(RuntimeAssemblies.Select(Assembly.Load)).Distinct()
                     .Where(a => RuntimeAssemblies.Contains(a.GetName().Name)))
        {
            foreach (var type in assembly.GetTypes())
            {
                foreach (var method in Methods(type))
                {
                    pending.Enqueue(method);
                }
            }
        }
        var scanned = new HashSet<MethodBase>();
        while (pending.TryDequeue(out var method))
        {
            if (!scanned.Add(method))
            {
                continue;
            }
            foreach (var callee in Callees(method))
            {
                called.Add(callee);
                if (callee.DeclaringType?.Namespace == typeof(GunicornConfig).Namespace && !IsCompilerGenerated(callee))
                {
                    pending.Enqueue(callee);
                }
            }
        }
        return called;
    }

    private static bool IsCompilerGenerated(MethodBase method) =>
        method.Name is "Equals" or "GetHashCode" or "ToString" or "PrintMembers" or "Deconstruct" or "<Clone>$"
        || method.IsDefined(typeof(System.Runtime.CompilerServices.CompilerGeneratedAttribute));

    private static IEnumerable<MethodBase> Methods(Type type)
    {
        const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        return type.GetMethods(All).Cast<MethodBase>().Concat(type.GetConstructors(All));
    }

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    /// <summary>The methods <paramref name="method"/> calls, loads (ldftn: lambdas, delegates) or reads, decoding its IL opcode by opcode.</summary>
    private static IEnumerable<MethodBase> Callees(MethodBase method)
    {
        byte[]? il;
        try
        {
            il = method.GetMethodBody()?.GetILAsByteArray();
        }
        catch (Exception e) when (e is BadImageFormatException or InvalidOperationException)
        {
            yield break;
        }
        if (il is null)
        {
            yield break;
        }
        var genericType = method.DeclaringType?.IsGenericType == true ? method.DeclaringType.GetGenericArguments() : null;
        var genericMethod = method.IsGenericMethod ? method.GetGenericArguments() : null;
        for (var i = 0; i < il.Length;)
        {
            short value = il[i] == 0xFE ? (short)(0xFE00 | il[i + 1]) : il[i];
            var opcode = OpCodesByValue[value];
            i += opcode.Size;
            if (opcode.OperandType == OperandType.InlineMethod)
            {
                MethodBase? callee = null;
                try
                {
                    callee = method.Module.ResolveMethod(BitConverter.ToInt32(il, i), genericType, genericMethod);
                }
                catch (Exception e) when (e is ArgumentException or TypeLoadException or MissingMethodException or BadImageFormatException)
                {
                }
                if (callee is not null)
                {
                    yield return callee is MethodInfo { IsGenericMethod: true } generic ? generic.GetGenericMethodDefinition() : callee;
                }
            }
            i += opcode.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, i),
                _ => 4,
            };
        }
    }
}
