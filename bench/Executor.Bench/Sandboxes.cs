using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Executor.Bench;

/// <summary>
/// Stateful sandboxes (POST /sandboxes) through the gateway, as a client uses them: from create to the result of `x + 1`
/// after `x = 1` (warm pool, a settled machine), a call in a live sandbox against the host spawning /usr/bin/python3, the
/// data runtime's `df.describe()` on a 10,000-row frame the previous call made, and the memory an idle sandbox holds (its
/// container's cgroup as the engine's stats read it, page cache that can be dropped left out, as `docker stats` does).
/// </summary>
public static class Sandboxes
{
    private const string MakeFrame =
        "import numpy as np, pandas as pd\n"
        + "rng = np.random.default_rng(1)\n"
        + "df = pd.DataFrame({\"a\": np.arange(10_000), \"b\": rng.random(10_000), \"c\": rng.integers(0, 100, 10_000)})\n";

    /// <summary>Idle sandboxes measured per runtime: enough for a median, few enough for any key's quota.</summary>
    private const int IdleSandboxes = 3;

    public static async Task<SandboxFigures> MeasureAsync(Stack stack, IDockerClient docker, int runs)
    {
        var gateway = stack.Gateway;
        Console.WriteLine("measuring sandboxes: create, then x = 1, then x + 1 (warm) ...");
        for (var i = 0; i < 5; i++)
        {
            await CreateAndAddAsync(stack); // connections, JIT, and the runner's first kernel
        }
        var total = new List<double>();
        var create = new List<double>();
        var first = new List<double>();
        var second = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            var sample = await CreateAndAddAsync(stack);
            total.Add(sample.Total);
            create.Add(sample.Create);
            first.Add(sample.First);
            second.Add(sample.Second);
        }

        Console.WriteLine("measuring sandboxes: x + 1 in a live sandbox ...");
        var (calls, callsInKernel) = await RepeatAsync(stack, runtime: null, setup: "x = 1", code: "x + 1", expect: "2", runs);

        Console.WriteLine("measuring sandboxes: df.describe() on a 10,000-row frame in the data runtime ...");
        await DataRuntime.WaitForDataPoolAsync(stack);
        var (describe, describeInKernel) = await RepeatAsync(stack, DataRuntime.Runtime, MakeFrame, "df.describe()", expect: "count", runs);

        Console.WriteLine("measuring sandboxes: the memory of idle sandboxes ...");
        var idleDefault = await IdleMemoryAsync(stack, docker, runtime: null);
        var idleData = await IdleMemoryAsync(stack, docker, DataRuntime.Runtime);

        return new SandboxFigures(
            new Stats("sandbox: create, x = 1, x + 1 (result 2), end to end", total),
            new Stats("  of which create (POST /sandboxes)", create),
            new Stats("  of which the first call (x = 1)", first),
            new Stats("  of which the second call (x + 1)", second),
            new Stats("sandbox: a call of x + 1 in a live sandbox, end to end", calls),
            new Stats("  its duration_ms (in the sandbox)", callsInKernel),
            new Stats("sandbox, python-3.11-data: df.describe() on 10,000 rows made by the previous call", describe),
            new Stats("  its duration_ms (in the sandbox)", describeInKernel),
            idleDefault,
            idleData);
    }

    /// <summary>
    /// The pandas baseline: df.describe() on the same frame in the host's own interpreter, timed in-process; null when the
    /// host has no pandas (bench/run.sh installs Debian's).
    /// </summary>
    public static async Task<Stats?> HostDescribeAsync(int runs)
    {
        var script = MakeFrame + "import time\ndf.describe()\n"
            + $"for _ in range({runs}):\n    t = time.perf_counter(); df.describe(); print((time.perf_counter() - t) * 1000)\n";
        using var process = Process.Start(new ProcessStartInfo("/usr/bin/python3", ["-c", script]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0 && errors.Contains("ModuleNotFoundError", StringComparison.Ordinal))
        {
            Console.WriteLine("  note: the host's /usr/bin/python3 has no numpy or pandas: no baseline for df.describe()");
            return null;
        }
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"host python3 could not describe the frame: {errors}");
        }
        return new Stats("host /usr/bin/python3: df.describe() in-process (no spawn, no call)",
            [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => double.Parse(line, System.Globalization.CultureInfo.InvariantCulture))]);
    }

    private static async Task<(double Total, double Create, double First, double Second)> CreateAndAddAsync(Stack stack)
    {
        await stack.WaitForPoolAsync(2);
        await Task.Delay(200); // the previous sandbox's removal
        var sw = Stopwatch.StartNew();
        var id = await CreateAsync(stack.Gateway, runtime: null);
        var created = sw.Elapsed.TotalMilliseconds;
        await RunAsync(stack.Gateway, id, "x = 1");
        var first = sw.Elapsed.TotalMilliseconds;
        var result = await RunAsync(stack.Gateway, id, "x + 1");
        var total = sw.Elapsed.TotalMilliseconds;
        Expect(result, "2");
        await DeleteAsync(stack.Gateway, id);
        return (total, created, first - created, total - first);
    }

    /// <summary>Runs <paramref name="code"/> <paramref name="runs"/> times in one live sandbox after <paramref name="setup"/>.</summary>
    private static async Task<(List<double> EndToEnd, List<double> InSandbox)> RepeatAsync(
        Stack stack, string? runtime, string setup, string code, string expect, int runs)
    {
        var id = await CreateAsync(stack.Gateway, runtime);
        try
        {
            await RunAsync(stack.Gateway, id, setup);
            var endToEnd = new List<double>();
            var inSandbox = new List<double>();
            for (var i = 0; i < runs + 5; i++)
            {
                await Task.Delay(100);
                var sw = Stopwatch.StartNew();
                var result = await RunAsync(stack.Gateway, id, code);
                var ms = sw.Elapsed.TotalMilliseconds;
                Expect(result, expect);
                if (i >= 5)
                {
                    endToEnd.Add(ms);
                    inSandbox.Add(result.GetProperty("duration_ms").GetDouble());
                }
            }
            return (endToEnd, inSandbox);
        }
        finally
        {
            await DeleteAsync(stack.Gateway, id);
        }
    }

    /// <summary>
    /// Holds a few sandboxes of the runtime idle after one call and reads each one's container memory from the engine. The
    /// call asks the sandbox its host name, which is its container's short id (a leased warm container keeps its pool name).
    /// </summary>
    private static async Task<IdleMemory> IdleMemoryAsync(Stack stack, IDockerClient docker, string? runtime)
    {
        var ids = new List<string>();
        var containers = new List<string>();
        try
        {
            var limitMb = 0;
            for (var i = 0; i < IdleSandboxes; i++)
            {
                if (runtime is null)
                {
                    await stack.WaitForPoolAsync(2);
                }
                else
                {
                    await DataRuntime.WaitForDataPoolAsync(stack);
                }
                var view = await CreateViewAsync(stack.Gateway, runtime);
                ids.Add(view.GetProperty("sandbox_id").GetString()!);
                limitMb = view.GetProperty("memory_mb").GetInt32();
                var hostname = await RunAsync(stack.Gateway, ids[^1], "open('/etc/hostname').read().strip()");
                containers.Add(PlainResult(hostname)?.Trim('\'') ?? throw new InvalidOperationException($"no host name in {hostname}"));
            }
            await Task.Delay(2000); // idle: nothing of the calls left running
            var mib = new List<double>();
            foreach (var container in containers)
            {
                mib.Add(await ContainerMemoryMibAsync(docker, container) ?? throw new InvalidOperationException($"no memory figures of the idle sandbox {container}"));
            }
            return new IdleMemory(runtime ?? "python-3.11 (default)", new Stats("idle", mib), limitMb);
        }
        finally
        {
            foreach (var id in ids)
            {
                await DeleteAsync(stack.Gateway, id);
            }
        }
    }

    /// <summary>The memory of each ready container in the warm pools of this bench's stack (named executor-pool-*), in MiB.</summary>
    public static async Task<List<double>> PoolContainersMemoryMibAsync(IDockerClient docker)
    {
        var containers = await docker.Containers.ListContainersAsync(new ContainersListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["label"] = new Dictionary<string, bool> { [$"executor.deployment={Stack.Deployment}"] = true, ["executor.role=pool"] = true },
                ["name"] = new Dictionary<string, bool> { ["executor-pool-"] = true },
                ["status"] = new Dictionary<string, bool> { ["running"] = true },
            },
        });
        var mib = new List<double>();
        foreach (var container in containers)
        {
            if (await ContainerMemoryMibAsync(docker, container.ID) is { } used)
            {
                mib.Add(used);
            }
        }
        return mib;
    }

    /// <summary>
    /// The memory of the sandbox's container: its cgroup's usage less the inactive page cache, as docker stats shows it;
    /// null when the container is gone (a pool container leased or replaced meanwhile).
    /// </summary>
    private static async Task<double?> ContainerMemoryMibAsync(IDockerClient docker, string containerId)
    {
        var stats = new Latest<ContainerStatsResponse>();
        try
        {
            await docker.Containers.GetContainerStatsAsync(containerId, new ContainerStatsParameters { Stream = false }, stats, CancellationToken.None);
        }
        catch (DockerContainerNotFoundException)
        {
            return null;
        }
        if (stats.Value?.MemoryStats is not { Usage: > 0 } memory)
        {
            return null; // an exited container has no memory figures
        }
        var cache = memory.Stats is { } s
            ? s.TryGetValue("total_inactive_file", out var v1) ? v1 : s.TryGetValue("inactive_file", out var v2) ? v2 : 0
            : 0;
        return ((double)memory.Usage.Value - cache) / 1024 / 1024;
    }

    /// <summary>Keeps the last value reported, on the reporting thread (Progress&lt;T&gt; would post it to the thread pool, later).</summary>
    private sealed class Latest<T> : IProgress<T>
    {
        public T? Value { get; private set; }

        public void Report(T value) => Value = value;
    }

    internal static async Task<string> CreateAsync(HttpClient gateway, string? runtime) =>
        (await CreateViewAsync(gateway, runtime)).GetProperty("sandbox_id").GetString()!;

    private static async Task<JsonElement> CreateViewAsync(HttpClient gateway, string? runtime)
    {
        using var response = await gateway.PostAsJsonAsync("/sandboxes", runtime is null ? new { } : (object)new { runtime });
        var view = await response.Content.ReadFromJsonAsync<JsonElement>();
        if (response.StatusCode != HttpStatusCode.Created)
        {
            throw new InvalidOperationException($"no sandbox: {(int)response.StatusCode} {view}");
        }
        return view;
    }

    internal static async Task<JsonElement> RunAsync(HttpClient gateway, string id, string code)
    {
        using var response = await gateway.PostAsJsonAsync($"/sandboxes/{id}/run", new { code });
        var result = await response.Content.ReadFromJsonAsync<JsonElement>();
        if (response.StatusCode != HttpStatusCode.OK || result.GetProperty("status").GetString() != "ok")
        {
            throw new InvalidOperationException($"the call failed: {(int)response.StatusCode} {result}");
        }
        return result;
    }

    internal static async Task DeleteAsync(HttpClient gateway, string id)
    {
        using var response = await gateway.DeleteAsync($"/sandboxes/{id}");
        if (response.StatusCode is not (HttpStatusCode.NoContent or HttpStatusCode.NotFound))
        {
            throw new InvalidOperationException($"the sandbox was not deleted: {(int)response.StatusCode}");
        }
    }

    /// <summary>The first text/plain of the call's results.</summary>
    private static string? PlainResult(JsonElement result) => result.GetProperty("results").EnumerateArray()
        .Select(bundle => bundle.TryGetProperty("text/plain", out var text) ? text.GetString() : null)
        .FirstOrDefault(text => text is not null);

    /// <summary>The call's text/plain result holds <paramref name="expected"/>: the bench times only what worked.</summary>
    private static void Expect(JsonElement result, string expected)
    {
        var plain = PlainResult(result);
        if (plain is null || !plain.Contains(expected, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"expected a result with '{expected}', got {result}");
        }
    }
}

/// <summary>The memory each of a few idle sandboxes of a runtime held, and the memory limit they had.</summary>
public sealed record IdleMemory(string Runtime, Stats Mib, int MemoryLimitMb);

public sealed record SandboxFigures(
    Stats CreateToResult, Stats Create, Stats FirstCall, Stats SecondCall,
    Stats Call, Stats CallInSandbox,
    Stats Describe, Stats DescribeInSandbox,
    IdleMemory IdleDefault, IdleMemory IdleData);
