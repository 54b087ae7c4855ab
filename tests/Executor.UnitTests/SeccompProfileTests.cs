using System.Text.Json.Nodes;
using Executor.Sandbox;
using Microsoft.Extensions.Time.Testing;

namespace Executor.UnitTests;

public class SeccompProfileTests
{
    [Fact]
    public void No_rule_allows_a_denied_call()
    {
        var allowed = SeccompProfile.Allowed();

        Assert.All(SeccompProfile.Denied, call => Assert.DoesNotContain(call, allowed));
        Assert.Contains("read", allowed);
        Assert.Contains("pidfd_open", allowed); // the launcher needs it
    }

    [Fact]
    public void Every_sandbox_carries_the_profile_by_value()
    {
        var options = new SandboxOptions();
        var spec = SandboxSpec.Create(options, RuntimeCatalogTests.Python(options), "runc", SandboxLimits.Defaults(options), new SandboxInstance("runner"), SandboxLabels.ColdRole,
            new FakeTimeProvider());

        var seccomp = Assert.Single(spec.HostConfig!.SecurityOpt, o => o.StartsWith("seccomp=", StringComparison.Ordinal));
        var profile = JsonNode.Parse(seccomp["seccomp=".Length..])!;
        Assert.Equal("SCMP_ACT_ERRNO", (string?)profile["defaultAction"]);
        Assert.DoesNotContain("\n", seccomp, StringComparison.Ordinal);
    }

    [Fact]
    public void Under_gvisor_clone3_reaches_gvisors_kernel_and_under_runc_it_is_ENOSYS()
    {
        static JsonNode Clone3(string runtime) => JsonNode.Parse(SeccompProfile.For(runtime))!["syscalls"]!.AsArray()
            .Single(r => r!["names"]!.AsArray() is [var only] && (string?)only == "clone3")!;

        Assert.Equal("SCMP_ACT_ERRNO", (string?)Clone3("runc")["action"]);
        Assert.Equal(38, (int)Clone3("runc")["errnoRet"]!);
        Assert.Equal("SCMP_ACT_ALLOW", (string?)Clone3("runsc")["action"]);
        // Everything else is the same profile.
        Assert.Equal(
            JsonNode.Parse(SeccompProfile.For("runc"))!["syscalls"]!.AsArray().Count,
            JsonNode.Parse(SeccompProfile.For("runsc"))!["syscalls"]!.AsArray().Count);
    }
}
