namespace Executor.EndToEndTests;

[Collection(StackCollection.Name)]
public sealed class SandboxLimitsTests(StackFixture stack) : SandboxLimitsSuite(stack);

[Collection(GvisorCollection.Name)]
public sealed class SandboxLimitsTestsUnderGvisor(GvisorStackFixture stack) : SandboxLimitsSuite(stack);

public abstract class SandboxLimitsSuite(StackFixture stack)
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
            // Under gVisor the engine's limit bounds gVisor's own host threads; RLIMIT_NPROC bounds the sandbox's processes.
            Assert.Equal(stack.ExpectedIsolation == "runsc" ? 512 : 64, host.PidsLimit);
            if (stack.ExpectedIsolation == "runsc")
            {
                Assert.Contains(host.Ulimits, u => u.Name == "nproc" && u.Hard == 64);
            }
            Assert.Equal("none", host.NetworkMode);
            Assert.True(host.ReadonlyRootfs);
            // The launcher is root with three capabilities; the script drops to 65534 with none (the next test).
            Assert.Equal("0:0", container.Config!.User);
            Assert.Contains("ALL", host.CapDrop);
            Assert.Equal(["KILL", "SETGID", "SETUID"], host.CapAdd.Order(StringComparer.Ordinal));
            Assert.Contains("no-new-privileges", host.SecurityOpt);
            var seccomp = Assert.Single(host.SecurityOpt, o => o.StartsWith("seccomp=", StringComparison.Ordinal));
            Assert.DoesNotContain("io_uring", seccomp, StringComparison.Ordinal);
            Assert.Equal(stack.ExpectedIsolation, host.Runtime);
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
    public async Task Once_the_host_has_compiled_the_launcher_a_sandbox_boots_from_it_mounted_read_only()
    {
        // The runner's probe has each image's Python compile the launcher into the host's directory at start.
        var compiled = false;
        for (var i = 0; i < 600 && !compiled; i++)
        {
            compiled = Directory.Exists(LauncherDirectory)
                && Directory.EnumerateFiles(LauncherDirectory, "launcher-*.cpython-*").Any(f => !f.EndsWith(".tmp", StringComparison.Ordinal));
            await Task.Delay(compiled ? 0 : 100);
        }
        Assert.True(compiled, "the launcher was not compiled into " + LauncherDirectory);
        await Task.Delay(TimeSpan.FromSeconds(1.5)); // the services look at the directory again at most a second later

        // Its own memory: a cold container, made now.
        var sessionId = await stack.Gateway.SubmitAsync("""
            import os, sys
            print(sorted(f.rsplit(".", 1)[-1] for f in os.listdir("/run/executor/launcher")))
            try:
                open("/run/executor/launcher/x", "w")
            except OSError as e:
                print("launcher directory read-only", e.errno)
            import time
            time.sleep(5)
            """, ("memory_mb", "200"));
        var containerId = await stack.Runner.WaitForContainerAsync(sessionId);
        var container = await stack.Docker.Containers.InspectContainerAsync(containerId);

        Assert.InRange(container.Config!.Cmd[3].Length, 1, 1024); // the loader, not the launcher's 120 KB source
        var mount = Assert.Single(container.Mounts, m => m.Destination == LauncherDirectory);
        Assert.False(mount.RW);
        Assert.Equal(LauncherDirectory, mount.Source);
        var result = await stack.Gateway.WaitForResultAsync(sessionId);
        Assert.Equal("completed", result.GetProperty("status").GetString());
        var stdout = result.GetProperty("stdout").GetString()!;
        Assert.Contains("'py'", stdout, StringComparison.Ordinal);
        Assert.Contains("'cpython-311'", stdout, StringComparison.Ordinal); // the code its Python boots from
        Assert.Contains("launcher directory read-only", stdout, StringComparison.Ordinal);
    }

    private const string LauncherDirectory = "/run/executor/launcher";

    [Fact]
    public async Task Inside_the_sandbox_the_script_is_unprivileged_offline_and_read_only()
    {
        var result = await stack.Gateway.RunAsync("""
            import os, socket
            print("uid", os.getuid(), os.getgid())
            status = {k: v.strip() for k, v in (line.split(":", 1) for line in open("/proc/self/status"))}
            print("caps", status["CapEff"], status["CapPrm"], status["CapInh"])
            print("nonewprivs", status.get("NoNewPrivs", "not shown"))
            print("seccomp", status["Seccomp"])
            for signal_number in (9, 15):
                try:
                    os.kill(1, signal_number)
                    print("launcher signalled")
                except PermissionError:
                    print("launcher out of reach")
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
        Assert.Contains("caps 0000000000000000 0000000000000000 0000000000000000", lines);
        // gVisor's /proc does not show it; the engine sets it all the same (previous test).
        Assert.Contains(stack.ExpectedIsolation == "runsc" ? "nonewprivs not shown" : "nonewprivs 1", lines);
        Assert.Equal(2, lines.Count(l => l == "launcher out of reach"));
        Assert.Contains("seccomp 2", lines); // a seccomp filter: Executor's profile
        Assert.Equal(stack.ExpectedIsolation, result.GetProperty("isolation").GetString());
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
