using System.Diagnostics;
using Docker.DotNet;

namespace Executor.EndToEndTests;

/// <summary>
/// A Docker engine of the tests' own (eng/private-engine.sh: its own socket, data root, exec root, pid file and
/// containerd, in a network namespace of its own, no bridge, no iptables), so a test may stop it, break it or run a
/// second runner host on it without ever touching the machine's engine, which keeps running the other stacks.
/// </summary>
public sealed class PrivateDockerEngine : IAsyncDisposable
{
    private readonly string _name;
    private readonly string[] _images;

    private PrivateDockerEngine(string name, string[] images)
    {
        _name = name;
        _images = images;
    }

    /// <summary>The engine's endpoint, for Sandbox:DockerEndpoint and for clients.</summary>
    public string Endpoint => $"unix:///var/tmp/executor-engines/{_name}/docker.sock";

    public IDockerClient CreateClient() => new DockerClientBuilder().WithEndpoint(new Uri(Endpoint)).Build();

    /// <summary>Starts a fresh engine named <paramref name="name"/> (a leftover of an earlier run is wiped) with the images.</summary>
    public static async Task<PrivateDockerEngine> StartAsync(string name, params string[] images)
    {
        var engine = new PrivateDockerEngine(name, images);
        await Script("wipe", name);
        await engine.StartAsync();
        return engine;
    }

    /// <summary>Starts the engine (again, after <see cref="StopAsync"/>: same data, same socket) and waits until it answers.</summary>
    public Task StartAsync() => Script("start", _name, _images);

    /// <summary>Stops the engine as an administrator would (SIGTERM, then wait): its containers die with it.</summary>
    public Task StopAsync() => Script("stop", _name);

    public async ValueTask DisposeAsync() => await Script("wipe", _name);

    private static Task<string> Script(string command, string name, params string[] images) =>
        Shell.RunAsync($"{Path.Combine(Repository.Root, "eng", "private-engine.sh")} {command} {name} {string.Join(' ', images)}");
}

/// <summary>Runs a shell command and fails the test with its stderr when it fails.</summary>
public static class Shell
{
    public static async Task<string> RunAsync(string script)
    {
        using var process = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", script])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"'{script}' failed ({process.ExitCode}): {await errors}");
        return await output;
    }
}

/// <summary>The sandbox images the stacks run, as eng/prerequisites.sh builds them.</summary>
public static class RuntimeImages
{
    public static string Default { get; } = Environment.GetEnvironmentVariable("EXECUTOR_RUNTIME_IMAGE") is { Length: > 0 } image ? image : "executor-python:3.11";

    /// <summary>The python-3.11-data runtime's image (numpy, pandas, scipy, matplotlib).</summary>
    public static string Data { get; } = Environment.GetEnvironmentVariable("EXECUTOR_DATA_RUNTIME_IMAGE") is { Length: > 0 } image ? image : "executor-python-data:3.11";

    public static string[] All => [Default];
}
