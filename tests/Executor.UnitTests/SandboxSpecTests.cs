using System.Text.Json;
using Docker.DotNet.Models;
using Executor.Contracts;
using Executor.Sandbox;
using Microsoft.Extensions.Time.Testing;

namespace Executor.UnitTests;

public class SandboxSpecTests
{
    [Fact]
    public void Default_options_give_a_locked_down_container()
    {
        var options = new SandboxOptions();
        var spec = SandboxSpec.Create(options, RuntimeCatalogTests.Python(options), "runc", SandboxLimits.Defaults(options), new SandboxInstance("runner"), SandboxLabels.ColdRole,
            new FakeTimeProvider(), sessionId: "abc");
        var host = spec.HostConfig!;

        Assert.Equal(128L * 1024 * 1024, host.Memory);
        Assert.Equal(host.Memory, host.MemorySwap);
        Assert.Equal(500_000_000, host.NanoCPUs);
        Assert.Equal(64, host.PidsLimit);
        Assert.Equal("none", host.NetworkMode);
        Assert.True(spec.NetworkDisabled);
        Assert.True(host.ReadonlyRootfs);
        Assert.Equal(["ALL"], host.CapDrop);
        Assert.Contains("no-new-privileges", host.SecurityOpt);
        Assert.Equal("0:0", spec.User); // the launcher; the script drops to 65534, its last argument
        Assert.Equal("65534:65534", spec.Cmd[4]);
        Assert.Equal("", spec.Cmd[5]); // nothing to pre-import in python-3.11
        Assert.Equal(RuntimeCatalog.Python, spec.Labels[SandboxLabels.Runtime]);
        Assert.Equal(["SETUID", "SETGID", "KILL"], host.CapAdd);
        Assert.Equal("none", host.LogConfig!.Type);
        Assert.Contains("/tmp", host.Tmpfs!.Keys);
        Assert.True(spec.OpenStdin);
        Assert.True(spec.StdinOnce);
        Assert.Equal("abc", spec.Labels[SandboxLabels.Session]);
        Assert.Equal("true", spec.Labels[SandboxLabels.Managed]);
        Assert.Equal("default", spec.Labels[SandboxLabels.Deployment]);
        Assert.DoesNotContain(spec.Env, e => e.StartsWith("DOCKER", StringComparison.Ordinal) || e.Contains("SECRET", StringComparison.Ordinal));
    }

    [Fact]
    public void Without_egress_nothing_is_mounted_and_with_it_the_proxy_directory_is_the_one_read_only_mount()
    {
        var options = new SandboxOptions();
        var runner = new SandboxInstance("runner");
        CreateContainerParameters Create(string? egressDirectory = null) => SandboxSpec.Create(options, RuntimeCatalogTests.Python(options), "runc",
            SandboxLimits.Defaults(options), runner, SandboxLabels.ColdRole, new FakeTimeProvider(), "abc", "name",
            egressDirectory);

        var without = Create();
        var with = Create("/var/lib/executor/egress/abc");

        Assert.Null(without.HostConfig!.Mounts);
        Assert.Null(without.HostConfig.Binds);
        var mount = Assert.Single(with.HostConfig!.Mounts!);
        Assert.Equal(("bind", "/var/lib/executor/egress/abc", LauncherEgress.Directory, true), (mount.Type, mount.Source, mount.Target, mount.ReadOnly));
        Assert.Null(with.HostConfig.Binds);
        Assert.Equal("none", with.HostConfig.NetworkMode);
        Assert.True(with.NetworkDisabled);
        // Everything else is the spec without egress, to the byte.
        var withoutMounts = JsonSerializer.SerializeToNode(with)!;
        withoutMounts["HostConfig"]!["Mounts"] = null;
        Assert.Equal(JsonSerializer.Serialize(without), withoutMounts.ToJsonString());
    }

    [Theory]
    [InlineData("runc", false)]
    [InlineData("runsc", true)]
    public void Under_gvisor_an_empty_read_only_directory_of_roots_covers_the_launchers_proc(string runtime, bool covered)
    {
        var options = new SandboxOptions();
        var tmpfs = SandboxSpec.Create(options, RuntimeCatalogTests.Python(options), runtime, SandboxLimits.Defaults(options), new SandboxInstance("runner"),
            SandboxLabels.ColdRole, new FakeTimeProvider()).HostConfig!.Tmpfs!;

        Assert.Equal(covered, tmpfs.TryGetValue("/proc/1", out var mount));
        if (covered)
        {
            Assert.StartsWith("ro,", mount, StringComparison.Ordinal);
            Assert.EndsWith("mode=0500", mount, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_launcher_travels_in_the_command()
    {
        var options = new SandboxOptions();
        var spec = SandboxSpec.Create(options, RuntimeCatalogTests.Python(options), "runc", SandboxLimits.Defaults(options), new SandboxInstance("prewarm"), SandboxLabels.PoolRole, new FakeTimeProvider());

        Assert.Equal(["python3", "-I", "-c"], spec.Cmd.Take(3));
        Assert.Contains("def main()", spec.Cmd[3], StringComparison.Ordinal);
    }

    [Fact]
    public void A_request_gets_its_own_timeout_and_memory_within_the_maximums()
    {
        var options = new SandboxOptions { MaxTimeoutSeconds = 30, MaxMemoryMb = 256 };

        Assert.Equal(SandboxLimits.Defaults(options), SandboxLimits.For(options, null, null));
        Assert.Equal((5, 200), (SandboxLimits.For(options, 5, 200).TimeoutSeconds, SandboxLimits.For(options, 5, 200).MemoryMb));
        Assert.Equal((30, 256), (SandboxLimits.For(options, 999, 999).TimeoutSeconds, SandboxLimits.For(options, 999, 999).MemoryMb));
        var spec = SandboxSpec.Create(options, RuntimeCatalogTests.Python(options), "runc", SandboxLimits.For(options, null, 200), new SandboxInstance("runner"), SandboxLabels.ColdRole, new FakeTimeProvider());
        Assert.Equal(200L * 1024 * 1024, spec.HostConfig!.Memory);
        Assert.Equal(spec.HostConfig.Memory, spec.HostConfig.MemorySwap);
    }
}
