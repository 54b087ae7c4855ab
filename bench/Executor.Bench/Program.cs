using System.Diagnostics;
using System.Globalization;
using Docker.DotNet;
using Executor.Bench;

// One command, one machine, one run: every figure below is measured side by side.
//   dotnet run -c Release --project bench/Executor.Bench [-- --quick | --load]
if (args.Contains("--load"))
{
    using var engine = new DockerClientBuilder().WithEndpoint(new Uri("unix:///var/run/docker.sock")).Build();
    await using var loaded = await Stack.StartAsync(warmPool: true, poolSize: 2);
    await Load.RunAsync(loaded, engine, submissions: 1000, concurrency: 50);
    return;
}

var quick = args.Contains("--quick");
var latencyRuns = quick ? 20 : 60;
var throughputSeconds = quick ? 10 : 30;
var inv = CultureInfo.InvariantCulture;
using var docker = new DockerClientBuilder().WithEndpoint(new Uri("unix:///var/run/docker.sock")).Build();
Console.WriteLine($"Executor benchmark — {Environment.ProcessorCount} cores, {Math.Round(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 1073741824.0)} GiB, "
    + $"{System.Runtime.InteropServices.RuntimeInformation.OSDescription}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");

Console.WriteLine("measuring host python3 ...");
var host = await Baselines.HostPythonAsync(latencyRuns);
Console.WriteLine("measuring docker run --rm ...");
var dockerRun = await Baselines.DockerRunAsync(quick ? 8 : 20);

Stats warm, cold;
var burstMs = 0.0;
var burstWarm = 0;
var throughput = new List<(int Concurrency, double Executor, double Raw)>();
IReadOnlyList<(string Service, double Mib)> memory;

Console.WriteLine("starting the stack with the warm pool ...");
await using (var stack = await Stack.StartAsync(warmPool: true, poolSize: 2))
{
    // Connections, and enough calls for the JIT to move the hot paths to optimized (tier-1) code.
    for (var i = 0; i < 30; i++)
    {
        await stack.HelloWorldAsync();
    }
    await stack.WaitForPoolAsync(2);
    Console.WriteLine("measuring warm end to end ...");
    var samples = new List<double>();
    var ranCold = 0;
    for (var i = 0; i < latencyRuns; i++)
    {
        // Latency of one warm run on a settled machine: the previous run's refill and removal are done.
        await Task.Delay(200);
        await stack.WaitForPoolAsync(2);
        var (ms, wasWarm) = await stack.HelloWorldAsync();
        samples.Add(ms);
        ranCold += wasWarm ? 0 : 1;
    }
    warm = new Stats("Executor warm, end to end", samples);
    if (ranCold > 0)
    {
        Console.WriteLine($"  note: {ranCold} of {latencyRuns} warm-path runs found no warm container");
    }

    Console.WriteLine("measuring a burst of 40 from a pool of 40 ...");
    await stack.ResizePoolAsync(40);
    await Task.Delay(2000);
    var sw = Stopwatch.StartNew();
    var burst = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => stack.HelloWorldAsync()));
    burstMs = sw.Elapsed.TotalMilliseconds;
    burstWarm = burst.Count(b => b.Warm);
    await stack.ResizePoolAsync(2);

    foreach (var concurrency in new[] { 1, 4, 8 })
    {
        Console.WriteLine($"measuring sustained throughput at concurrency {concurrency} for {throughputSeconds} s ...");
        await Task.Delay(3000);
        var done = 0;
        var stopAt = DateTime.UtcNow.AddSeconds(throughputSeconds);
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (DateTime.UtcNow < stopAt)
            {
                await stack.HelloWorldAsync();
                Interlocked.Increment(ref done);
            }
        }));
        var executorRate = done / clock.Elapsed.TotalSeconds;
        await Task.Delay(3000);
        var raw = await Baselines.ContainerLifecyclesPerSecondAsync(docker, concurrency, TimeSpan.FromSeconds(throughputSeconds));
        throughput.Add((concurrency, executorRate, raw));
    }
    memory = Stack.ServiceMemory();
}

Console.WriteLine("starting the stack without the warm pool ...");
await using (var stack = await Stack.StartAsync(warmPool: false, poolSize: 0))
{
    await stack.HelloWorldAsync();
    Console.WriteLine("measuring cold end to end ...");
    var samples = new List<double>();
    for (var i = 0; i < (quick ? 8 : 20); i++)
    {
        await Task.Delay(250);
        samples.Add((await stack.HelloWorldAsync()).Ms);
    }
    cold = new Stats("Executor cold (pool disabled), end to end", samples);
}

// gVisor: the same hello world, warm and cold, with every sandbox under runsc (eng/prerequisites.sh --runsc).
Stats gvisorWarm, gvisorCold;
Console.WriteLine("starting the stack under gVisor (runsc) ...");
await using (var stack = await Stack.StartAsync(warmPool: true, poolSize: 2, runtime: "runsc"))
{
    for (var i = 0; i < 10; i++)
    {
        await stack.HelloWorldAsync();
    }
    Console.WriteLine("measuring warm end to end under runsc ...");
    var samples = new List<double>();
    for (var i = 0; i < (quick ? 10 : 30); i++)
    {
        await Task.Delay(200);
        await stack.WaitForPoolAsync(2);
        samples.Add((await stack.HelloWorldAsync()).Ms);
    }
    gvisorWarm = new Stats("Executor warm under gVisor (runsc)", samples);
}
await using (var stack = await Stack.StartAsync(warmPool: false, poolSize: 0, runtime: "runsc"))
{
    await stack.HelloWorldAsync();
    Console.WriteLine("measuring cold end to end under runsc ...");
    var samples = new List<double>();
    for (var i = 0; i < (quick ? 8 : 20); i++)
    {
        await Task.Delay(250);
        samples.Add((await stack.HelloWorldAsync()).Ms);
    }
    gvisorCold = new Stats("Executor cold under gVisor (runsc)", samples);
}

string F(double v) => v.ToString(v < 100 ? "0.0" : "0", inv);
Console.WriteLine();
Console.WriteLine("| Hello world | median ms | p95 ms | min ms | runs |");
Console.WriteLine("|---|---:|---:|---:|---:|");
foreach (var s in new[] { warm, cold, gvisorWarm, gvisorCold, dockerRun, host })
{
    Console.WriteLine($"| {s.Name} | {F(s.Median)} | {F(s.P95)} | {F(s.Min)} | {s.Count} |");
}
Console.WriteLine();
Console.WriteLine("| Ratio | value | target |");
Console.WriteLine("|---|---:|---|");
Console.WriteLine($"| warm median / host python3 median | {(warm.Median / host.Median).ToString("0.00", inv)} | ≤ 1 |");
Console.WriteLine($"| docker run --rm median / warm median | {(dockerRun.Median / warm.Median).ToString("0.0", inv)}× | ≥ 15× |");
Console.WriteLine($"| warm p95 / warm median | {(warm.P95 / warm.Median).ToString("0.00", inv)} | ≤ 3 |");
Console.WriteLine($"| cold median / warm median | {(cold.Median / warm.Median).ToString("0.0", inv)}× | |");
Console.WriteLine($"| gVisor warm median / runc warm median | {(gvisorWarm.Median / warm.Median).ToString("0.0", inv)}× | |");
Console.WriteLine($"| gVisor cold median / runc cold median | {(gvisorCold.Median / cold.Median).ToString("0.0", inv)}× | |");
Console.WriteLine();
Console.WriteLine("| Sustained, hello world | Executor runs/s | raw create-start-wait-remove/s | ratio | target |");
Console.WriteLine("|---|---:|---:|---:|---|");
foreach (var (c, e, r) in throughput)
{
    Console.WriteLine($"| concurrency {c} | {e.ToString("0.00", inv)} | {r.ToString("0.00", inv)} | {(e / r).ToString("0.00", inv)} | {(c == 8 ? "≥ 0.9" : "")} |");
}
Console.WriteLine();
Console.WriteLine($"Burst: 40 executions from a full pool of 40 completed in {F(burstMs)} ms ({burstWarm} warm) — target < 1000 ms");
Console.WriteLine();
Console.WriteLine("| Service | resident memory after the run (MiB) |");
Console.WriteLine("|---|---:|");
foreach (var (service, mib) in memory)
{
    Console.WriteLine($"| {service} | {mib.ToString("0", inv)} |");
}
