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
