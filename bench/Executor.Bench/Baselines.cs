using System.Diagnostics;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Executor.Bench;

/// <summary>What Executor is measured against, on the same machine in the same run.</summary>
public static class Baselines
{
    public const string Image = "executor-python:3.11";

    /// <summary>The interpreter itself: /usr/bin/python3 (python3 on PATH may be a slow shim).</summary>
    public static async Task<Stats> HostPythonAsync(int runs)
    {
        var samples = new List<double>();
        for (var i = 0; i < runs + 3; i++)
        {
            var ms = await HostPythonOnceAsync();
            if (i >= 3)
            {
                samples.Add(ms);
            }
        }
        return new Stats("host python3 -c 'print(1)'", samples);
    }

    /// <summary>One /usr/bin/python3 -c 'print(1)', spawn to exit, in ms.</summary>
    public static async Task<double> HostPythonOnceAsync()
    {
        var sw = Stopwatch.StartNew();
        using var process = Process.Start(new ProcessStartInfo("/usr/bin/python3", ["-c", "print(1)"]) { RedirectStandardOutput = true })!;
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return sw.Elapsed.TotalMilliseconds;
    }

    /// <summary>What the seed did: docker run --rm with the same limits as a sandbox.</summary>
    public static async Task<Stats> DockerRunAsync(int runs)
    {
        var samples = new List<double>();
        for (var i = 0; i < runs + 1; i++)
        {
            var ms = await DockerRunOnceAsync();
            if (i >= 1)
            {
                samples.Add(ms);
            }
        }
        return new Stats("docker run --rm (same limits)", samples);
    }

    /// <summary>One docker run --rm of hello world with a sandbox's limits, start to exit, in ms.</summary>
    public static async Task<double> DockerRunOnceAsync()
    {
        var sw = Stopwatch.StartNew();
        using var process = Process.Start(new ProcessStartInfo(DockerCli(),
        [
            "run", "--rm", "--network", "none", "--memory", "128m", "--memory-swap", "128m", "--cpus", "0.5",
            "--pids-limit", "64", "--read-only", "--tmpfs", "/tmp:rw,nosuid,nodev,noexec,size=16m", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges", "--user", "65534:65534", "--log-driver", "none", "-i",
            Image, "python3", "-c", "print('Hello from Python')",
        ]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var errors = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        await errors;
        return sw.Elapsed.TotalMilliseconds;
    }

    /// <summary>
    /// The engine's ceiling for single-use containers: create, start, wait, remove as fast as it goes, at a given
    /// concurrency, with the sandbox limits and a hello-world command.
    /// </summary>
    public static async Task<double> ContainerLifecyclesPerSecondAsync(IDockerClient docker, int concurrency, TimeSpan duration)
    {
        var completed = 0;
        var stopAt = DateTime.UtcNow + duration;
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (DateTime.UtcNow < stopAt)
            {
                var created = await docker.Containers.CreateContainerAsync(new CreateContainerParameters
                {
                    Image = Image,
                    Cmd = ["python3", "-c", "print('Hello from Python')"],
                    User = "65534:65534",
                    Labels = new Dictionary<string, string> { ["executor.bench"] = "raw" },
                    HostConfig = new HostConfig
                    {
                        NetworkMode = "none", Memory = 128L << 20, MemorySwap = 128L << 20, NanoCPUs = 500_000_000, PidsLimit = 64,
                        ReadonlyRootfs = true, CapDrop = ["ALL"], SecurityOpt = ["no-new-privileges"], LogConfig = new LogConfig { Type = "none" },
                        Tmpfs = new Dictionary<string, string> { ["/tmp"] = "rw,nosuid,nodev,noexec,size=16m" },
                    },
                });
                await docker.Containers.StartContainerAsync(created.ID, new ContainerStartParameters());
                await docker.Containers.WaitContainerAsync(created.ID);
                await docker.Containers.RemoveContainerAsync(created.ID, new ContainerRemoveParameters { Force = true });
                Interlocked.Increment(ref completed);
            }
        }));
        return completed / sw.Elapsed.TotalSeconds;
    }

    private static string DockerCli() => File.Exists("/usr/bin/docker") ? "/usr/bin/docker" : "docker";
}
