using System.Diagnostics;
using Docker.DotNet;

namespace Executor.EndToEndTests;

/// <summary>
/// A Docker engine of the tests' own: its own socket, data root, exec root, pid file and containerd, no bridge and no
/// iptables, in a network namespace of its own, so a test may stop it, break it or run a second runner host on it
/// without ever touching the machine's engine (which keeps running the other stacks). The network namespace matters:
/// a dockerd started with --bridge=none deletes the host's docker0, the machine engine's bridge. The runtime images
/// are copied in from the machine's engine.
/// </summary>
public sealed class PrivateDockerEngine : IAsyncDisposable
{
    private const string MachineEngine = "unix:///var/run/docker.sock";
    private readonly string _root;
    private Process? _dockerd;

    private PrivateDockerEngine(string name)
    {
        _root = Path.Combine("/var/tmp/executor-engines", name);
    }

    /// <summary>The engine's endpoint, for Sandbox:DockerEndpoint and for clients.</summary>
    public string Endpoint => $"unix://{SocketPath}";

    private string SocketPath => Path.Combine(_root, "docker.sock");

    private string PidFile => Path.Combine(_root, "docker.pid");

    public IDockerClient CreateClient() => new DockerClientBuilder().WithEndpoint(new Uri(Endpoint)).Build();

    /// <summary>Starts an engine named <paramref name="name"/> (a leftover of an earlier run is stopped and wiped) and loads the images into it.</summary>
    public static async Task<PrivateDockerEngine> StartAsync(string name, params string[] images)
    {
        var engine = new PrivateDockerEngine(name);
        await engine.StopLeftoverAsync();
        if (Directory.Exists(engine._root))
        {
            Directory.Delete(engine._root, recursive: true);
        }
        Directory.CreateDirectory(engine._root);
        await engine.StartAsync();
        foreach (var image in images)
        {
            await Shell.RunAsync($"docker -H {MachineEngine} save {image} | docker -H {engine.Endpoint} load -q");
        }
        return engine;
    }

    /// <summary>Starts the engine (again, after <see cref="StopAsync"/>: same data, same socket) and waits until it answers.</summary>
    public async Task StartAsync()
    {
        _dockerd = Process.Start(new ProcessStartInfo("unshare",
        [
            "--net",
            "--",
            "dockerd",
            "--host", Endpoint,
            "--data-root", Path.Combine(_root, "data"),
            "--exec-root", Path.Combine(_root, "exec"),
            "--pidfile", PidFile,
            "--bridge", "none",
            "--iptables=false",
            "--ip-masq=false",
            "--userland-proxy=false",
            "--cgroup-parent", "/executor-private-" + Path.GetFileName(_root),
            "--log-level", "warn",
        ])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        }) ?? throw new InvalidOperationException("dockerd did not start");
        _ = _dockerd.StandardOutput.ReadToEndAsync();
        _ = _dockerd.StandardError.ReadToEndAsync();
        using var client = CreateClient();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            try
            {
                await client.System.PingAsync();
                return;
            }
            catch (Exception) when (DateTime.UtcNow < deadline && !_dockerd.HasExited)
            {
                await Task.Delay(200);
            }
        }
    }

    /// <summary>Stops the engine as an administrator would (SIGTERM, then wait): its containers die with it.</summary>
    public async Task StopAsync()
    {
        if (_dockerd is { HasExited: false } dockerd)
        {
            await Shell.RunAsync($"kill -TERM {dockerd.Id}");
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await dockerd.WaitForExitAsync(timeout.Token);
        }
    }

    public int ProcessId => _dockerd?.Id ?? 0;

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        finally
        {
            _dockerd?.Dispose();
            try
            {
                Directory.Delete(_root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private async Task StopLeftoverAsync()
    {
        if (File.Exists(PidFile) && int.TryParse(await File.ReadAllTextAsync(PidFile), out var pid))
        {
            await Shell.RunAsync($"kill -TERM {pid} 2>/dev/null; for i in $(seq 1 100); do kill -0 {pid} 2>/dev/null || exit 0; sleep 0.2; done");
        }
    }
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

    public static string[] All => [Default];
}
