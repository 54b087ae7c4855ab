using System.Diagnostics;

namespace Executor.EndToEndTests;

public sealed class ComposeTests
{
    /// <summary>The secrets docker-compose.yml requires.</summary>
    private static readonly (string Name, string Value)[] Secrets =
    [
        ("EXECUTOR_OPERATOR_KEY", "compose-config-operator-key"), ("EXECUTOR_HOST_SECRET", "compose-host-secret-0123456789"),
        ("EXECUTOR_HOST_CREDENTIAL", "compose-host-credential"), ("EXECUTOR_INTERNAL_TOKEN", "compose-internal-token-0123"),
    ];

    [Fact]
    public async Task Docker_compose_accepts_the_compose_file()
    {
        var services = ServicesOf(await ConfigAsync("../../docker-compose.yml", Secrets));
        Assert.Equal(["gateway", "prewarm", "runner", "session"], services.Keys.Order());
        // Only the runner and the pool hold the Docker socket.
        Assert.DoesNotContain("docker.sock", services["gateway"], StringComparison.Ordinal);
        Assert.DoesNotContain("docker.sock", services["session"], StringComparison.Ordinal);
        Assert.Contains("/var/run/docker.sock", services["runner"], StringComparison.Ordinal);
        Assert.Contains("/var/run/docker.sock", services["prewarm"], StringComparison.Ordinal);
        Assert.Contains("published: 5000", services["gateway"], StringComparison.Ordinal);
        // Only the gateway is reachable from outside the compose network.
        Assert.All(services.Where(s => s.Key != "gateway"), s => Assert.DoesNotContain("published", s.Value, StringComparison.Ordinal));
        Assert.Contains("compose-internal-token-0123", services["runner"], StringComparison.Ordinal);
        Assert.Contains("compose-internal-token-0123", services["prewarm"], StringComparison.Ordinal);
        Assert.DoesNotContain("compose-internal-token-0123", services["session"], StringComparison.Ordinal);
        Assert.DoesNotContain("compose-host-secret", services["runner"], StringComparison.Ordinal);
        Assert.Contains("session-data", services["session"], StringComparison.Ordinal);
        Assert.Contains("Auth__Mode: required", services["session"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Docker_compose_refuses_to_start_without_each_secret_a_runner_host_needs()
    {
        foreach (var missing in new[] { "EXECUTOR_HOST_SECRET", "EXECUTOR_HOST_CREDENTIAL", "EXECUTOR_INTERNAL_TOKEN" })
        {
            var error = await Assert.ThrowsAsync<InvalidOperationException>(
                () => ConfigAsync("../../docker-compose.yml", [.. Secrets.Where(s => s.Name != missing)]));
            Assert.Contains(missing, error.Message, StringComparison.Ordinal);
            // An empty value is no secret either.
            await Assert.ThrowsAsync<InvalidOperationException>(
                () => ConfigAsync("../../docker-compose.yml", [.. Secrets.Where(s => s.Name != missing), (missing, "")]));
        }
    }

    [Fact]
    public async Task The_distributed_files_split_the_central_tier_from_the_runner_hosts_which_hold_no_database_credentials()
    {
        var central = ServicesOf(await ConfigAsync("central.yml",
            ("EXECUTOR_POSTGRES_PASSWORD", "pg-secret"), ("EXECUTOR_HOST_SECRET", "host-secret"), ("EXECUTOR_OPERATOR_KEY", "operator-secret-0123")));
        var host = ServicesOf(await ConfigAsync("runner-host.yml",
            ("EXECUTOR_CENTRAL", "10.0.0.5"), ("EXECUTOR_HOST_CREDENTIAL", "host-9-credential"), ("EXECUTOR_HOST_NAME", "host-9"),
            ("EXECUTOR_INTERNAL_TOKEN", "internal-token-0123")));

        Assert.Equal(["gateway", "postgres", "session-a", "session-b"], central.Keys.Order());
        Assert.Equal(["prewarm", "runner"], host.Keys.Order());
        Assert.All(central.Values, service => Assert.DoesNotContain("docker.sock", service, StringComparison.Ordinal));
        Assert.All(host.Values, service => Assert.DoesNotContain("pg-secret", service, StringComparison.Ordinal));
        // The hosts reach the replicas through the gateway, the one port the central tier publishes; a host holds its own
        // credential, never the secret that makes every host's.
        Assert.Contains("http://10.0.0.5:5000", host["runner"], StringComparison.Ordinal);
        Assert.Contains("host-9-credential", host["runner"], StringComparison.Ordinal);
        Assert.All(host.Values, service => Assert.DoesNotContain("host-secret", service, StringComparison.Ordinal));
        Assert.Contains("host-secret", central["session-a"], StringComparison.Ordinal);
        Assert.All(central.Where(s => s.Key != "gateway"), s => Assert.DoesNotContain("published", s.Value, StringComparison.Ordinal));
        Assert.All(host.Values, service => Assert.DoesNotContain("published", service, StringComparison.Ordinal));
        // Without the secrets, the files refuse to start anything.
        await Assert.ThrowsAnyAsync<Exception>(() => ConfigAsync("central.yml"));
    }

    private static async Task<string> ConfigAsync(string file, params (string Name, string Value)[] environment)
    {
        var compose = new ProcessStartInfo("docker-compose", ["-f", Path.GetFullPath(Path.Combine(Repository.Root, "eng", "compose", file)), "config"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var name in new[]
        {
            "EXECUTOR_POSTGRES_PASSWORD", "EXECUTOR_HOST_SECRET", "EXECUTOR_HOST_CREDENTIAL", "EXECUTOR_INTERNAL_TOKEN", "EXECUTOR_CENTRAL",
            "EXECUTOR_HOST_NAME", "EXECUTOR_OPERATOR_KEY",
        })
        {
            compose.Environment.Remove(name);
        }
        foreach (var (name, value) in environment)
        {
            compose.Environment[name] = value;
        }
        using var process = Process.Start(compose)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return process.ExitCode == 0 ? output : throw new InvalidOperationException($"docker-compose config {file} failed: {errors}");
    }

    /// <summary>The text of each service's block in the normalized YAML that `config` prints.</summary>
    private static Dictionary<string, string> ServicesOf(string config)
    {
        var services = new Dictionary<string, string>();
        string? current = null;
        var inServices = false;
        foreach (var line in config.Split('\n'))
        {
            if (!line.StartsWith(' '))
            {
                inServices = line == "services:";
                current = null;
                continue;
            }
            if (inServices && line.StartsWith("  ", StringComparison.Ordinal) && !line.StartsWith("   ", StringComparison.Ordinal) && line.EndsWith(':'))
            {
                current = line.Trim().TrimEnd(':');
                services[current] = "";
            }
            else if (current is not null)
            {
                services[current] += line + "\n";
            }
        }
        return services;
    }
}
