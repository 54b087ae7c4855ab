using System.Diagnostics;

namespace Executor.EndToEndTests;

/// <summary>
/// The real JavaScript clients in tests/clients (Piston's npm client, the MCP TypeScript SDK, puppeteer-core), installed
/// from its lock file by eng/prerequisites.sh --test-clients before the tests run: a test connects to nothing beyond
/// this machine. Each script is an ES module run by the machine's Node.
/// </summary>
public static class NodeClients
{
    public static string Root { get; } = Path.Combine(Repository.Root, "tests", "clients");

    /// <summary>Runs <paramref name="source"/> as tests/clients/.run/<paramref name="name"/>.mjs and returns what it printed.</summary>
    public static async Task<string> RunAsync(string name, string source, params string[] arguments)
    {
        Assert.True(File.Exists(Path.Combine(Root, "node_modules", ".package-lock.json")),
            $"the test clients are not installed in {Root}: run eng/prerequisites.sh --test-clients");
        var directory = Path.Combine(Root, ".run");
        Directory.CreateDirectory(directory);
        var script = Path.Combine(directory, name + ".mjs");
        await File.WriteAllTextAsync(script, source);
        using var process = Process.Start(new ProcessStartInfo("node", [script, .. arguments])
        {
            WorkingDirectory = Root, RedirectStandardOutput = true, RedirectStandardError = true,
        })!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(timeout.Token);
        Assert.True(process.ExitCode == 0, $"node {name}.mjs failed ({process.ExitCode}): {await errors}");
        return await output;
    }
}
