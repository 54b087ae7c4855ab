namespace Executor.EndToEndTests;

[Collection(StackCollection.Name)]
public sealed class SandboxLimitsTests(StackFixture stack)
{
    [Fact]
    public async Task The_running_container_has_every_limit()
    {
        var sessionId = await stack.Gateway.SubmitAsync("import time\ntime.sleep(60)\n");
        var containerId = await stack.Runner.WaitForContainerAsync(sessionId);
        try
        {
            var container = await stack.Docker.Containers.InspectContainerAsync(containerId);
            var host = container.HostConfig!;

            Assert.True(container.State!.Running);
            Assert.Equal(128L * 1024 * 1024, host.Memory);
            Assert.Equal(128L * 1024 * 1024, host.MemorySwap);
            Assert.Equal(500_000_000, host.NanoCPUs);
            Assert.Equal(64, host.PidsLimit);
            Assert.Equal("none", host.NetworkMode);
            Assert.True(host.ReadonlyRootfs);
            Assert.Equal("65534:65534", container.Config!.User);
            Assert.Contains("ALL", host.CapDrop);
            Assert.True(host.CapAdd is null || host.CapAdd.Count == 0);
            Assert.Contains("no-new-privileges", host.SecurityOpt);
            Assert.False(host.Privileged);
            Assert.Empty(host.Binds ?? []);
            Assert.Equal("true", container.Config.Labels["executor.managed"]);
        }
        finally
        {
            await stack.Gateway.PostAsync($"/cleanup/{sessionId}", null);
        }
    }

    [Fact]
    public async Task Inside_the_sandbox_the_script_is_unprivileged_offline_and_read_only()
    {
        var result = await stack.Gateway.RunAsync("""
            import os, socket
            print("uid", os.getuid(), os.getgid())
            status = dict(line.split(":", 1) for line in open("/proc/self/status"))
            print("caps", status["CapEff"].strip(), status["CapBnd"].strip())
            print("nonewprivs", status["NoNewPrivs"].strip())
            print("seccomp", status["Seccomp"].strip())
            try:
                socket.create_connection(("1.1.1.1", 53), timeout=2)
                print("network open")
            except OSError as e:
                print("network closed", type(e).__name__)
            try:
                open("/usr/evil", "w")
                print("root writable")
            except OSError as e:
                print("root read-only", e.errno)
            print("env", sorted(os.environ))
            """);

        Assert.Equal("completed", result.GetProperty("status").GetString());
        var lines = result.GetProperty("stdout").GetString()!.Split('\n');
        Assert.Contains("uid 65534 65534", lines);
        Assert.Contains("caps 0000000000000000 0000000000000000", lines);
        Assert.Contains("nonewprivs 1", lines);
        Assert.Contains("seccomp 2", lines); // the engine's default seccomp filter
        Assert.Contains(lines, l => l.StartsWith("network closed", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("root read-only", StringComparison.Ordinal));
        Assert.Contains("env ['HOME', 'HOSTNAME', 'LANG', 'PATH', 'PYTHONDONTWRITEBYTECODE']", lines);
    }

    [Fact]
    public async Task A_memory_hog_is_killed_at_the_memory_limit()
    {
        var result = await stack.Gateway.RunAsync("x = bytearray(400 * 1024 * 1024)\nprint('survived')\n");

        Assert.Equal("memory_exceeded", result.GetProperty("status").GetString());
        Assert.DoesNotContain("survived", result.GetProperty("logs").GetString(), StringComparison.Ordinal);
    }
}
