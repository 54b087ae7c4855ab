using System.Diagnostics;

namespace Executor.EndToEndTests;

public sealed class ComposeTests
{
    [Fact]
    public async Task Docker_compose_accepts_the_compose_file()
    {
        var compose = new ProcessStartInfo("docker-compose", ["-f", Path.Combine(Repository.Root, "docker-compose.yml"), "config"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["EXECUTOR_OPERATOR_KEY"] = "compose-config-operator-key" },
        };
        using var process = Process.Start(compose)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();

        Assert.True(process.ExitCode == 0, $"docker-compose config failed: {errors}");
        var services = ServicesOf(output);
        Assert.Equal(["gateway", "prewarm", "runner", "session"], services.Keys.Order());
        // Only the runner and the pool hold the Docker socket.
        Assert.DoesNotContain("docker.sock", services["gateway"], StringComparison.Ordinal);
        Assert.DoesNotContain("docker.sock", services["session"], StringComparison.Ordinal);
        Assert.Contains("/var/run/docker.sock", services["runner"], StringComparison.Ordinal);
        Assert.Contains("/var/run/docker.sock", services["prewarm"], StringComparison.Ordinal);
        Assert.Contains("published: 5000", services["gateway"], StringComparison.Ordinal);
        Assert.Contains("session-data", services["session"], StringComparison.Ordinal);
        Assert.Contains("Auth__Mode: required", services["session"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_distributed_files_split_the_central_tier_from_the_runner_hosts_which_hold_no_database_credentials()
    {
        var central = ServicesOf(await ConfigAsync("central.yml",
            ("EXECUTOR_POSTGRES_PASSWORD", "pg-secret"), ("EXECUTOR_HOST_TOKEN", "host-secret"), ("EXECUTOR_OPERATOR_KEY", "operator-secret-0123")));
        var host = ServicesOf(await ConfigAsync("runner-host.yml",
            ("EXECUTOR_CENTRAL", "10.0.0.5"), ("EXECUTOR_HOST_TOKEN", "host-secret"), ("EXECUTOR_HOST_NAME", "host-9")));

        Assert.Equal(["gateway", "postgres", "session-a", "session-b"], central.Keys.Order());
        Assert.Equal(["prewarm", "runner"], host.Keys.Order());
        Assert.All(central.Values, service => Assert.DoesNotContain("docker.sock", service, StringComparison.Ordinal));
        Assert.All(host.Values, service => Assert.DoesNotContain("pg-secret", service, StringComparison.Ordinal));
        Assert.Contains("http://10.0.0.5:5101", host["runner"], StringComparison.Ordinal);
        Assert.Contains("host-secret", host["runner"], StringComparison.Ordinal);
        Assert.Contains("host-secret", central["session-a"], StringComparison.Ordinal);
        // Without the secrets, the files refuse to start anything.
        await Assert.ThrowsAnyAsync<Exception>(() => ConfigAsync("central.yml"));
    }

    private static async Task<string> ConfigAsync(string file, params (string Name, string Value)[] environment)
    {
        var compose = new ProcessStartInfo("docker-compose", ["-f", Path.Combine(Repository.Root, "eng", "compose", file), "config"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var name in new[] { "EXECUTOR_POSTGRES_PASSWORD", "EXECUTOR_HOST_TOKEN", "EXECUTOR_CENTRAL", "EXECUTOR_HOST_NAME", "EXECUTOR_OPERATOR_KEY" })
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
