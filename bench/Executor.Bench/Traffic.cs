using System.Diagnostics;
using System.Globalization;

namespace Executor.Bench;

/// <summary>
/// Warm hello world through the gateway (wait mode) under the traffic a platform sends, each run interleaved with the
/// host spawning /usr/bin/python3 -c 'print(1)', so that the ratio is measured side by side in the same conditions:
/// settled (1 s between runs, the pool full), a steady 3 runs/s, back to back, and a steady 3 runs/s with a
/// `docker run --rm` started every second beside it. Each records the most running containers the stack held meanwhile.
/// </summary>
public static class Traffic
{
    public enum Kind { Settled, Steady, BackToBack, SteadyWithDockerRun }

    public static readonly Kind[] All = [Kind.Settled, Kind.Steady, Kind.BackToBack, Kind.SteadyWithDockerRun];

    /// <summary>What the distributed mode is compared on: the settled machine and the steady rate.</summary>
    public static readonly Kind[] Pair = [Kind.Settled, Kind.Steady];

    private const double PerSecond = 3;

    public static async Task<List<Scenario>> MeasureAsync(Stack stack, Timeline timeline, Report report, IEnumerable<Kind> kinds, int runs, string mode)
    {
        await stack.WarmUpAsync(30);
        var measured = new List<Scenario>();
        foreach (var kind in kinds)
        {
            Console.WriteLine($"measuring warm hello world, {Describe(kind)} ({mode}), interleaved with host python3 ...");
            report.Mark($"{Short(kind)} ({mode})");
            await stack.WaitForPoolAsync(2);
            await timeline.ResetPeakAsync();
            var (executor, host, ranCold) = kind switch
            {
                Kind.Settled => await SettledAsync(stack, runs),
                Kind.BackToBack => await BackToBackAsync(stack, runs),
                _ => await SteadyAsync(stack, runs, withDockerRun: kind == Kind.SteadyWithDockerRun),
            };
            var peak = await timeline.PeakAsync();
            if (ranCold > 0)
            {
                Console.WriteLine($"  note: {ranCold} of {runs} runs found no warm container");
            }
            var hostStats = report.Add("warm", new Stats($"host python3, interleaved: {Describe(kind)} ({mode})", host));
            var executorStats = report.Add("warm", new Stats($"Executor warm: {Describe(kind)} ({mode})", executor), hostStats.Name, peak);
            measured.Add(new Scenario(kind, mode, executorStats, hostStats, peak));
        }
        return measured;
    }

    public static void Print(IEnumerable<Scenario> scenarios)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine();
        Console.WriteLine("| Warm hello world, wait mode, interleaved with the host spawning python | warm median ms | p95 ms | p95/median | host python median ms | ratio | pool peak (running containers) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var s in scenarios)
        {
            Console.WriteLine($"| {Describe(s.Kind)} ({s.Mode}) | {s.Executor.Median.ToString("0.0", c)} | {s.Executor.P95.ToString("0.0", c)} | "
                + $"{(s.Executor.P95 / s.Executor.Median).ToString("0.00", c)} | {s.Host.Median.ToString("0.0", c)} | "
                + $"{(s.Executor.Median / s.Host.Median).ToString("0.00", c)} | {s.PoolPeak} |");
        }
    }

    public static string Describe(Kind kind) => kind switch
    {
        Kind.Settled => "settled (1 s between runs, pool full)",
        Kind.Steady => "a steady 3 runs/s, new connection each",
        Kind.BackToBack => "back to back",
        _ => "a steady 3 runs/s with a docker run --rm every second beside it",
    };

    private static string Short(Kind kind) => kind switch
    {
        Kind.Settled => "settled",
        Kind.Steady => "3/s",
        Kind.BackToBack => "back to back",
        _ => "3/s + docker run",
    };

    /// <summary>A run 1 s after the previous one returned, once the pool is full again; the host's python in the pause.</summary>
    private static async Task<(List<double>, List<double>, int)> SettledAsync(Stack stack, int runs)
    {
        var executor = new List<double>();
        var host = new List<double>();
        var ranCold = 0;
        for (var i = 0; i < runs; i++)
        {
            var pause = Task.Delay(1000);
            await stack.WaitForPoolAsync(2);
            var (ms, warm) = await stack.HelloWorldAsync();
            executor.Add(ms);
            ranCold += warm ? 0 : 1;
            await Task.Delay(300);
            host.Add(await Baselines.HostPythonOnceAsync());
            await pause;
        }
        return (executor, host, ranCold);
    }

    /// <summary>Each run as soon as the previous one returned (the host's python between them: A, B, A, B).</summary>
    private static async Task<(List<double>, List<double>, int)> BackToBackAsync(Stack stack, int runs)
    {
        var executor = new List<double>();
        var host = new List<double>();
        var ranCold = 0;
        for (var i = 0; i < runs; i++)
        {
            var (ms, warm) = await stack.HelloWorldAsync();
            executor.Add(ms);
            ranCold += warm ? 0 : 1;
            host.Add(await Baselines.HostPythonOnceAsync());
        }
        return (executor, host, ranCold);
    }

    /// <summary>
    /// Arrivals on a fixed schedule (run i at i / 3 s, whether or not the previous one has returned), each from a new
    /// connection as a platform's short-lived request handler would open; the host's python half a slot later. With
    /// <paramref name="withDockerRun"/>, a `docker run --rm` starts every second beside them, other work on the engine.
    /// </summary>
    private static async Task<(List<double>, List<double>, int)> SteadyAsync(Stack stack, int runs, bool withDockerRun)
    {
        var interval = TimeSpan.FromSeconds(1 / PerSecond);
        var clock = Stopwatch.StartNew();
        var runsInFlight = new List<Task<(double Ms, bool Warm)>>();
        var dockerRuns = new List<Task<double>>();
        var host = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            await DelayUntilAsync(clock, interval * i);
            if (withDockerRun && i % (int)PerSecond == 0)
            {
                dockerRuns.Add(Baselines.DockerRunOnceAsync());
            }
            runsInFlight.Add(HelloWorldNewConnectionAsync(stack));
            await DelayUntilAsync(clock, interval * (i + 0.5));
            host.Add(await Baselines.HostPythonOnceAsync());
        }
        var results = await Task.WhenAll(runsInFlight);
        await Task.WhenAll(dockerRuns);
        return ([.. results.Select(r => r.Ms)], host, results.Count(r => !r.Warm));
    }

    private static async Task<(double Ms, bool Warm)> HelloWorldNewConnectionAsync(Stack stack)
    {
        using var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero })
        {
            BaseAddress = stack.Gateway.BaseAddress,
            Timeout = TimeSpan.FromMinutes(2),
        };
        return await Stack.HelloWorldAsync(client);
    }

    private static async Task DelayUntilAsync(Stopwatch clock, TimeSpan due)
    {
        if (due > clock.Elapsed)
        {
            await Task.Delay(due - clock.Elapsed);
        }
    }
}

public sealed record Scenario(Traffic.Kind Kind, string Mode, Stats Executor, Stats Host, int PoolPeak);
