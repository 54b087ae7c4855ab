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

    [Theory]
    [InlineData("runc")]
    [InlineData("runsc")]
    public void Only_each_machines_native_system_call_abi_is_admitted(string runtime)
    {
        // A 64-bit script could otherwise call through the 32-bit entry (int 0x80) or x32, where socketcall carries
        // socket's arguments in memory that no argument rule can see. A call of an architecture the filter does not
        // list meets the bad-architecture action: the process is killed.
        var profile = JsonNode.Parse(SeccompProfile.For(runtime))!;

        Assert.Null(profile["architectures"]);
        var archMap = profile["archMap"]!.AsArray();
        Assert.Contains(archMap, entry => (string?)entry!["architecture"] == "SCMP_ARCH_X86_64");
        Assert.Contains(archMap, entry => (string?)entry!["architecture"] == "SCMP_ARCH_AARCH64");
        Assert.All(archMap, entry => Assert.True(entry!["subArchitectures"] is null or JsonArray { Count: 0 },
            $"{entry["architecture"]} admits {entry["subArchitectures"]}"));
        Assert.DoesNotContain("socketcall", SeccompProfile.Allowed());
    }

    [Theory]
    [InlineData("mknod", 1)]
    [InlineData("mknodat", 2)]
    public void Mknod_makes_files_fifos_and_sockets_but_never_a_device(string call, int modeArgument)
    {
        var rules = JsonNode.Parse(SeccompProfile.For("runc"))!["syscalls"]!.AsArray()
            .Where(rule => rule!["names"]!.AsArray().Any(n => (string?)n == call))
            .ToList();

        // Every rule that names the call must look at the file type in its mode, or it would admit any node.
        Assert.NotEmpty(rules);
        Assert.All(rules, rule =>
        {
            Assert.Equal("SCMP_ACT_ALLOW", (string?)rule!["action"]);
            var condition = Assert.Single(rule["args"]!.AsArray())!;
            Assert.Equal(modeArgument, (int)condition["index"]!);
            Assert.Equal("SCMP_CMP_MASKED_EQ", (string?)condition["op"]);
        });
        bool Allowed(uint mode) => rules.Any(rule =>
        {
            var condition = rule!["args"]![0]!;
            return (mode & (ulong)condition["value"]!) == (ulong?)condition["valueTwo"];
        });
        const uint Permissions = 0x1B6; // 0666
        const uint IFMT = 0xF000, IFREG = 0x8000, IFIFO = 0x1000, IFSOCK = 0xC000, IFCHR = 0x2000, IFBLK = 0x6000;
        Assert.True(Allowed(Permissions)); // no type: a regular file
        Assert.True(Allowed(IFREG | Permissions));
        Assert.True(Allowed(IFIFO | Permissions));
        Assert.True(Allowed(IFSOCK | Permissions));
        Assert.False(Allowed(IFCHR | Permissions));
        Assert.False(Allowed(IFBLK | Permissions));
        Assert.False(Allowed(IFMT | Permissions));
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
