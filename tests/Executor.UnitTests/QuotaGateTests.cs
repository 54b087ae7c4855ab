using Executor.SessionCore.Access;
using Executor.SessionCore.Callbacks;
using Executor.SessionCore.Sessions;

namespace Executor.UnitTests;

/// <summary>The quota rules that need no store: ceilings over what a request asks for and over a runtime's defaults.</summary>
public class QuotaGateTests
{
    private static Caller Capped(int? timeout, int? memory) => new("k1", "capped", Roles.User, new Quotas(4, 8, 60, timeout, memory));

    [Fact]
    public void An_explicit_request_above_a_ceiling_is_refused_naming_it()
    {
        var (_, problem) = QuotaGate.ApplyCeilings(Capped(60, 256), RunOptions.None with { MemoryMb = 384 }, runtimeMemoryMb: 384);

        Assert.Equal(400, problem!.Status);
        Assert.Contains("ceiling of 256 MiB", problem.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_runtime_default_above_the_ceiling_is_lowered_to_it_and_one_below_is_left_alone()
    {
        Assert.Equal(256, QuotaGate.ApplyCeilings(Capped(60, 256), RunOptions.None, runtimeMemoryMb: 384).Options.MemoryMb);
        Assert.Null(QuotaGate.ApplyCeilings(Capped(60, 256), RunOptions.None, runtimeMemoryMb: 128).Options.MemoryMb);
        Assert.Equal(200, QuotaGate.ApplyCeilings(Capped(60, 256), RunOptions.None with { MemoryMb = 200 }, runtimeMemoryMb: 384).Options.MemoryMb);
    }

    [Fact]
    public void The_default_timeout_is_lowered_to_a_ceiling_below_it()
    {
        Assert.Equal(5, QuotaGate.ApplyCeilings(Capped(5, 512), RunOptions.None, null).Options.TimeoutSeconds);
        Assert.Null(QuotaGate.ApplyCeilings(Capped(60, 512), RunOptions.None, null).Options.TimeoutSeconds);
    }

    [Theory]
    [InlineData("http://Hooks.Example/a", "http://hooks.example:80")]
    [InlineData("http://hooks.example:80/b?x=1", "http://hooks.example:80")]
    [InlineData("https://hooks.example/c", "https://hooks.example:443")]
    [InlineData("http://hooks.example:8080/d", "http://hooks.example:8080")]
    [InlineData("http://[::1]:9000/e", "http://[::1]:9000")]
    public void Callbacks_are_grouped_by_scheme_host_and_port(string url, string destination) =>
        Assert.Equal(destination, CallbackDispatcher.DestinationOf(url));
}
