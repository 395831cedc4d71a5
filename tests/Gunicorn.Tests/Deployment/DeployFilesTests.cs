using Gunicorn.Tests.Infrastructure;
using YamlDotNet.RepresentationModel;

namespace Gunicorn.Tests.Deployment;

/// <summary>deploy/: the systemd units pass systemd-analyze, and the Kubernetes manifests agree with the config they carry.</summary>
public class DeployFilesTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private static string Deploy => Path.Combine(RepoPaths.Root, "deploy");

    [SkippableFact]
    public async Task SystemdUnits_PassSystemdAnalyzeVerify_WithoutAWarning()
    {
        Skip.IfNot(ExternalTool.IsInstalled("/usr/bin/systemd-analyze"), "systemd-analyze comes with Debian's systemd package.");
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-units-").FullName;
        // verify checks that ExecStart exists: point it at the binary under test.
        File.WriteAllText(Path.Combine(dir, "gunicorn-net.service"),
            File.ReadAllText(Path.Combine(Deploy, "systemd", "gunicorn-net.service")).Replace("/opt/gunicorn-net/gunicorn-net", Binary.Path));
        File.Copy(Path.Combine(Deploy, "systemd", "gunicorn-net.socket"), Path.Combine(dir, "gunicorn-net.socket"));
        var verify = await ExternalTool.RunAsync("/usr/bin/systemd-analyze",
            ["verify", Path.Combine(dir, "gunicorn-net.socket"), Path.Combine(dir, "gunicorn-net.service")], Deadline);
        Assert.Equal(0, verify.ExitCode);
        Assert.Equal("", verify.Output.Trim());

        var service = File.ReadAllText(Path.Combine(dir, "gunicorn-net.service"));
        foreach (var hardening in new[] { "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "Type=notify", "ExecReload=/bin/kill -HUP $MAINPID" })
        {
            Assert.Contains(hardening, service);
        }
    }

    [Fact]
    public async Task KubernetesManifests_AgreeWithTheirConfig_AndTheConfigIsValid()
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(Path.Combine(Deploy, "kubernetes", "gunicorn-net.yaml"))));
        var documents = stream.Documents.Select(d => (YamlMappingNode)d.RootNode).ToList();
        YamlMappingNode Kind(string kind) => documents.Single(d => Scalar(d, "kind") == kind);

        var configText = Scalar(Map(Kind("ConfigMap"), "data"), "gunicorn.yaml");
        var config = new YamlStream();
        config.Load(new StringReader(configText));
        var settings = (YamlMappingNode)config.Documents[0].RootNode;
        var port = int.Parse(Scalar(settings, "bind").Split(':')[1]);
        var healthPath = Scalar(settings, "health_path");
        var grace = double.Parse(Scalar(settings, "graceful_timeout")) + double.Parse(Scalar(settings, "drain_period"));

        var pod = Map(Map(Map(Kind("Deployment"), "spec"), "template"), "spec");
        var container = (YamlMappingNode)((YamlSequenceNode)pod.Children["containers"]).Children[0];
        var containerPort = (YamlMappingNode)((YamlSequenceNode)container.Children["ports"]).Children[0];
        Assert.Equal(port, int.Parse(Scalar(containerPort, "containerPort")));
        foreach (var probe in new[] { "readinessProbe", "livenessProbe" })
        {
            Assert.Equal(healthPath, Scalar(Map(Map(container, probe), "httpGet"), "path"));
        }
        var preStop = double.Parse(Scalar(Map(Map(Map(container, "lifecycle"), "preStop"), "sleep"), "seconds"));
        var terminationGrace = double.Parse(Scalar(pod, "terminationGracePeriodSeconds"));
        Assert.True(terminationGrace > preStop + grace,
            $"terminationGracePeriodSeconds {terminationGrace} must exceed preStop {preStop} + drain_period + graceful_timeout {grace}");
        Assert.Equal("http", Scalar((YamlMappingNode)((YamlSequenceNode)Map(Kind("Service"), "spec").Children["ports"]).Children[0], "targetPort"));
        Assert.Equal("Deployment", Scalar(Map(Map(Kind("HorizontalPodAutoscaler"), "spec"), "scaleTargetRef"), "kind"));

        // The carried config is one gunicorn-net accepts.
        var dir = Directory.CreateTempSubdirectory("gunicorn-net-k8s-").FullName;
        File.WriteAllText(Path.Combine(dir, "gunicorn.yaml"), configText);
        // --check-config imports the app, as gunicorn's does: the image's app.
        File.WriteAllText(Path.Combine(dir, "app.py"), "def app(environ, start_response):\n    return []\n");
        var check = await Binary.RunAsync(["--check-config", "-c", "gunicorn.yaml"], dir);
        Assert.True(check.ExitCode == 0, check.Stdout + check.Stderr);
    }

    private static YamlMappingNode Map(YamlMappingNode node, string key) => (YamlMappingNode)node.Children[new YamlScalarNode(key)];

    private static string Scalar(YamlMappingNode node, string key) => ((YamlScalarNode)node.Children[new YamlScalarNode(key)]).Value!;
}
