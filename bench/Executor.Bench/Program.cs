using System.Diagnostics;
using System.Globalization;
using Docker.DotNet;
using Executor.Bench;

// One command, one machine, one run: every figure below is measured side by side.
//   dotnet run -c Release --project bench/Executor.Bench [-- --quick | --latency | --live | --runtimes | --sandboxes | --clients | --egress | --languages | --load [--postgres]]
var postgresMode = args.Contains("--postgres");
if (args.Contains("--load"))
{
    using var engine = new DockerClientBuilder().WithEndpoint(new Uri("unix:///var/run/docker.sock")).Build();
    await using var loaded = await Stack.StartAsync(warmPool: true, poolSize: 2, postgres: postgresMode);
    await Load.RunAsync(loaded, engine, submissions: 1000, concurrency: 50, postgresMode ? "postgres" : "embedded");
    return;
}

if (args.Contains("--live"))
{
    // How soon a script's first byte reaches a live client, in both modes.
    foreach (var pg in new[] { false, true })
    {
        await using var live = await Stack.StartAsync(warmPool: true, poolSize: 2, postgres: pg);
        var (sse, ws) = await Live.FirstByteAsync(live, 20, pg ? "postgres" : "embedded");
        foreach (var s in new[] { sse, ws })
        {
            Console.WriteLine($"| {s.Name} | {s.Median.ToString("0.0", CultureInfo.InvariantCulture)} | {s.P95.ToString("0.0", CultureInfo.InvariantCulture)} | {s.Min.ToString("0.0", CultureInfo.InvariantCulture)} | {s.Count} |");
        }
    }
    return;
}

if (args.Contains("--runtimes"))
{
    await MeasureDataRuntimeAsync(args.Contains("--quick") ? 8 : 20);
    return;
}

if (args.Contains("--clients"))
{
    // E2B's SDK and @jupyterlab/services against the native API: create, then the result of 1 + 1.
    var runs = args.Contains("--quick") ? 15 : 40;
    IReadOnlyList<(string Surface, Stats Create, Stats Total)> surfaces;
    await using (var stack = await Stack.StartAsync(warmPool: true, poolSize: 2))
    {
        surfaces = await Clients.MeasureAsync(stack, runs);
    }
    var c = CultureInfo.InvariantCulture;
    var native = surfaces[0];
    Console.WriteLine();
    Console.WriteLine("| Surface: a sandbox created, then the result of 1 + 1 | create, median ms | to the result, median ms | p95 ms | min ms | runs | added to the native API, median ms |");
    Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
    foreach (var (surface, create, total) in surfaces)
    {
        Console.WriteLine($"| {surface} | {create.Median.ToString("0.0", c)} | {total.Median.ToString("0.0", c)} | {total.P95.ToString("0.0", c)} | "
            + $"{total.Min.ToString("0.0", c)} | {total.Count} | {(total.Median - native.Total.Median).ToString("+0.0;-0.0", c)} |");
    }
    return;
}

if (args.Contains("--languages"))
{
    // C, C++, Java and JavaScript warm through Executor against the host's own compilers and docker run; graded cases.
    // Each group is printed as soon as it is measured.
    var runs = args.Contains("--quick") ? 10 : 30;
    Console.WriteLine($"load average before: {File.ReadAllText("/proc/loadavg").Trim()} ({Environment.ProcessorCount} cores)");
    // 20 submissions at once wait for their results together: more than a key's 16 waiting requests by default.
    Environment.SetEnvironmentVariable("Sessions__MaxStreamsPerKey", "64");
    await using (var stack = await Stack.StartAsync(warmPool: true, poolSize: 1, settings: Languages.Settings))
    {
        var c = await Languages.ExecutorAsync(stack, "c-gcc-12", "main.c", Languages.CHello, runs, "Executor warm, c-gcc-12: compile + run, submit → result");
        Languages.Print("C hello world", [c,
            await Languages.HostAsync("host: gcc -O2 main.c, then ./main", "gcc -O2 -pipe -o main main.c && ./main", runs),
            await Languages.DockerRunCAsync(runs)]);
        var js = await Languages.ExecutorAsync(stack, "javascript-node-18", "main.js", Languages.JsHello, runs, "Executor warm, javascript-node-18, submit → result");
        Languages.Print("JavaScript hello world", [js, await Languages.HostAsync("host: node main.js", "node main.js", runs)]);
        var java = await Languages.ExecutorAsync(stack, "java-17", "Main.java", Languages.JavaHello, runs, "Executor warm, java-17: javac + java, submit → result");
        Languages.Print("Java hello world", [java,
            await Languages.HostAsync("host: javac Main.java, then java Main (same JVM flags)",
                "javac -J-XX:+UseSerialGC -J-XX:TieredStopAtLevel=1 -d . Main.java && java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp . Main", runs),
            await Languages.HostAsync("host: java Main.java (source launcher)", "java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 Main.java", runs)]);
        var (graded, sequential, concurrent) = await Languages.CasesAsync(stack, args.Contains("--quick") ? 2 : 5);
        Languages.Print("20 test cases (C++ a + b)", [graded, sequential, concurrent]);
    }
    Console.WriteLine($"load average after: {File.ReadAllText("/proc/loadavg").Trim()}");
    return;
}

if (args.Contains("--egress"))
{
    // Egress: what asking for it costs a run that sends nothing, and the proxy's throughput against a direct download.
    var c = CultureInfo.InvariantCulture;
    Console.WriteLine($"load average before: {File.ReadAllText("/proc/loadavg").Trim()} ({Environment.ProcessorCount} cores)");
    EgressFigures egress;
    await using (var stack = await Stack.StartAsync(warmPool: true, poolSize: 2, settings: Egress.Settings))
    {
        egress = await Egress.MeasureAsync(stack, runs: args.Contains("--quick") ? 10 : 30, downloads: args.Contains("--quick") ? 3 : 5);
    }
    Console.WriteLine($"load average after: {File.ReadAllText("/proc/loadavg").Trim()}");
    string Ms(double v) => v.ToString(v < 100 ? "0.0" : "0", c);
    Console.WriteLine();
    Console.WriteLine("| Egress: print(1), submit → result (wait mode) | median ms | p90 ms | min ms | runs |");
    Console.WriteLine("|---|---:|---:|---:|---:|");
    foreach (var s in new[] { egress.Warm, egress.Cold, egress.WithEgress })
    {
        Console.WriteLine($"| {s.Name} | {Ms(s.Median)} | {Ms(s.P90)} | {Ms(s.Min)} | {s.Count} |");
    }
    Console.WriteLine();
    Console.WriteLine("| Ratio | value |");
    Console.WriteLine("|---|---:|");
    Console.WriteLine($"| with egress / without, warm, medians | {(egress.WithEgress.Median / egress.Warm.Median).ToString("0.0", c)}× |");
    Console.WriteLine($"| with egress / without, cold, medians | {(egress.WithEgress.Median / egress.Cold.Median).ToString("0.00", c)} |");
    Console.WriteLine($"| with egress − without, cold, medians | {(egress.WithEgress.Median - egress.Cold.Median).ToString("+0.0;-0.0", c)} ms |");
    Console.WriteLine();
    Console.WriteLine("| Download over HTTP/1.1 from a loopback server | median MiB/s | min–max MiB/s | downloads |");
    Console.WriteLine("|---|---:|---:|---:|");
    foreach (var s in new[] { egress.Proxied, egress.Direct })
    {
        Console.WriteLine($"| {s.Name} | {s.Median.ToString("0", c)} | {s.Min.ToString("0", c)}–{s.Max.ToString("0", c)} | {s.Count} |");
    }
    Console.WriteLine($"| ratio: through the proxy / direct, medians | {(egress.Proxied.Median / egress.Direct.Median).ToString("0.00", c)} | | |");
    return;
}

if (args.Contains("--sandboxes"))
{
    var runs = args.Contains("--quick") ? 20 : 60;
    using var engine = new DockerClientBuilder().WithEndpoint(new Uri("unix:///var/run/docker.sock")).Build();
    Console.WriteLine("measuring host python3 ...");
    await MeasureSandboxesAsync(engine, await Baselines.HostPythonAsync(runs), runs);
    return;
}

var quick = args.Contains("--quick") || args.Contains("--latency");
var latencyRuns = quick ? 20 : 60;
var throughputSeconds = quick ? 10 : 30;
var inv = CultureInfo.InvariantCulture;
using var docker = new DockerClientBuilder().WithEndpoint(new Uri("unix:///var/run/docker.sock")).Build();
Console.WriteLine($"Executor benchmark — {Environment.ProcessorCount} cores, {Math.Round(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 1073741824.0)} GiB, "
    + $"{System.Runtime.InteropServices.RuntimeInformation.OSDescription}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");

Console.WriteLine("measuring host python3 ...");
var host = await Baselines.HostPythonAsync(latencyRuns);
if (args.Contains("--latency"))
{
    // A first look at the warm path only: embedded and postgres, settled and at a steady rate.
    var figures = new List<Stats> { host };
    foreach (var pg in new[] { false, true })
    {
        await using var stack = await Stack.StartAsync(warmPool: true, poolSize: 2, postgres: pg);
        var measured = await MeasureAsync(stack, pg ? "postgres" : "embedded");
        figures.AddRange([measured.Settled, measured.Steady]);
    }
    foreach (var s in figures)
    {
        Console.WriteLine($"| {s.Name} | {s.Median.ToString("0.0", inv)} | {s.P95.ToString("0.0", inv)} | {s.Min.ToString("0.0", inv)} | {s.Count} |");
    }
    return;
}
Console.WriteLine("measuring docker run --rm ...");
var dockerRun = await Baselines.DockerRunAsync(quick ? 8 : 20);

Console.WriteLine("starting the stack (embedded: SQLite) ...");
Measured embedded;
(Stats Sse, Stats WebSocket) firstByte;
var burstMs = 0.0;
var burstWarm = 0;
var throughput = new List<(int Concurrency, double Executor, double Raw)>();
IReadOnlyList<(string Service, double Mib)> memory;
await using (var stack = await Stack.StartAsync(warmPool: true, poolSize: 2))
{
    embedded = await MeasureAsync(stack, "embedded");
    Console.WriteLine("measuring the first byte of output to a live client (SSE and WebSocket) ...");
    firstByte = await Live.FirstByteAsync(stack, quick ? 10 : 30, "embedded");

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
        var executorRate = await SustainedAsync(stack, concurrency);
        await Task.Delay(3000);
        var raw = await Baselines.ContainerLifecyclesPerSecondAsync(docker, concurrency, TimeSpan.FromSeconds(throughputSeconds));
        throughput.Add((concurrency, executorRate, raw));
    }
    embedded = embedded with { RunsPerSecondAt8 = throughput.Single(t => t.Concurrency == 8).Executor };
    memory = Stack.ServiceMemory();
}

// Resident memory under each garbage collector, the same workload (the services inherit the variable).
var memoryByGc = new List<(string Gc, double Mib)>();
foreach (var (gc, server) in new[] { ("server GC", "1"), ("workstation GC", "0") })
{
    Environment.SetEnvironmentVariable("DOTNET_gcServer", server);
    Console.WriteLine($"measuring resident memory under the {gc} ...");
    await using var stack = await Stack.StartAsync(warmPool: true, poolSize: 2);
    await WarmUpAsync(stack, 30);
    await Task.Delay(2000);
    memoryByGc.Add((gc, Stack.ServiceMemory().Sum(m => m.Mib)));
}
Environment.SetEnvironmentVariable("DOTNET_gcServer", null);

Console.WriteLine("starting the stack without the warm pool ...");
Stats cold;
await using (var stack = await Stack.StartAsync(warmPool: false, poolSize: 0))
{
    await stack.HelloWorldAsync();
    Console.WriteLine("measuring cold end to end ...");
    cold = new Stats("Executor cold (pool disabled), end to end", await SeriesAsync(stack, quick ? 8 : 20, settle: false));
}

Console.WriteLine("starting the stack in the distributed mode's store (PostgreSQL, one replica, one host) ...");
Measured postgres;
await using (var stack = await Stack.StartAsync(warmPool: true, poolSize: 2, postgres: true))
{
    postgres = await MeasureAsync(stack, "postgres");
    Console.WriteLine($"measuring sustained throughput at concurrency 8 for {throughputSeconds} s (postgres) ...");
    await Task.Delay(3000);
    postgres = postgres with { RunsPerSecondAt8 = await SustainedAsync(stack, 8) };
}

// gVisor: the same hello world, warm and cold, with every sandbox under runsc (eng/prerequisites.sh --runsc).
Stats gvisorWarm, gvisorCold;
Console.WriteLine("starting the stack under gVisor (runsc) ...");
await using (var stack = await Stack.StartAsync(warmPool: true, poolSize: 2, runtime: "runsc"))
{
    await WarmUpAsync(stack, 10);
    Console.WriteLine("measuring warm end to end under runsc ...");
    gvisorWarm = new Stats("Executor warm under gVisor (runsc)", await SeriesAsync(stack, quick ? 10 : 30, settle: true));
}
await using (var stack = await Stack.StartAsync(warmPool: false, poolSize: 0, runtime: "runsc"))
{
    await stack.HelloWorldAsync();
    Console.WriteLine("measuring cold end to end under runsc ...");
    gvisorCold = new Stats("Executor cold under gVisor (runsc)", await SeriesAsync(stack, quick ? 8 : 20, settle: false));
}

await MeasureDataRuntimeAsync(quick ? 8 : 20);
await MeasureSandboxesAsync(docker, host, latencyRuns);

string F(double v) => v.ToString(v < 100 ? "0.0" : "0", inv);
string R(double v) => v.ToString("0.00", inv);
Console.WriteLine();
Console.WriteLine("| Hello world | median ms | p95 ms | min ms | runs |");
Console.WriteLine("|---|---:|---:|---:|---:|");
foreach (var s in new[] { embedded.Settled, embedded.Steady, postgres.Settled, postgres.Steady, cold, gvisorWarm, gvisorCold, dockerRun, host, firstByte.Sse, firstByte.WebSocket })
{
    Console.WriteLine($"| {s.Name} | {F(s.Median)} | {F(s.P95)} | {F(s.Min)} | {s.Count} |");
}
Console.WriteLine();
Console.WriteLine("| Ratio | value | target |");
Console.WriteLine("|---|---:|---|");
Console.WriteLine($"| warm median (settled) / host python3 median | {R(embedded.Settled.Median / host.Median)} | ≤ 1 |");
Console.WriteLine($"| warm median at a steady 3 runs/s, new connection each / host python3 median | {R(embedded.Steady.Median / host.Median)} | |");
Console.WriteLine($"| warm p95 / median at a steady 3 runs/s | {R(embedded.Steady.P95 / embedded.Steady.Median)} | ≤ 3 |");
Console.WriteLine($"| docker run --rm median / warm median | {(dockerRun.Median / embedded.Settled.Median).ToString("0.0", inv)}× | ≥ 15× |");
Console.WriteLine($"| warm p95 / warm median (settled) | {R(embedded.Settled.P95 / embedded.Settled.Median)} | ≤ 3 |");
Console.WriteLine($"| cold median / warm median | {(cold.Median / embedded.Settled.Median).ToString("0.0", inv)}× | |");
Console.WriteLine($"| postgres warm median − embedded warm median (settled) | {(postgres.Settled.Median - embedded.Settled.Median).ToString("+0.0;-0.0", inv)} ms | ≤ +2 ms |");
Console.WriteLine($"| postgres runs/s / embedded runs/s at concurrency 8 | {R(postgres.RunsPerSecondAt8 / embedded.RunsPerSecondAt8)} | ≥ 0.9 |");
Console.WriteLine($"| first byte to an SSE client, median (embedded) | {F(firstByte.Sse.Median)} ms | ≤ 50 ms |");
Console.WriteLine($"| gVisor warm median / runc warm median | {(gvisorWarm.Median / embedded.Settled.Median).ToString("0.0", inv)}× | |");
Console.WriteLine($"| gVisor cold median / runc cold median | {(gvisorCold.Median / cold.Median).ToString("0.0", inv)}× | |");
Console.WriteLine();
Console.WriteLine("| Sustained, hello world | Executor runs/s | raw create-start-wait-remove/s | ratio | target |");
Console.WriteLine("|---|---:|---:|---:|---|");
foreach (var (c, e, r) in throughput)
{
    Console.WriteLine($"| concurrency {c} | {R(e)} | {R(r)} | {R(e / r)} | {(c == 8 ? "≥ 0.9" : "")} |");
}
Console.WriteLine($"| concurrency 8, postgres mode | {R(postgres.RunsPerSecondAt8)} | | | |");
Console.WriteLine();
Console.WriteLine($"Burst: 40 executions from a full pool of 40 completed in {F(burstMs)} ms ({burstWarm} warm) — target < 1000 ms");
Console.WriteLine();
Console.WriteLine("| Service | resident memory after the run (MiB) |");
Console.WriteLine("|---|---:|");
foreach (var (service, mib) in memory)
{
    Console.WriteLine($"| {service} | {mib.ToString("0", inv)} |");
}
Console.WriteLine($"| all four | {memory.Sum(m => m.Mib).ToString("0", inv)} (target ≤ 600) |");
foreach (var (gc, mib) in memoryByGc)
{
    Console.WriteLine($"| all four, {gc}, after 30 runs | {mib.ToString("0", inv)} |");
}

// The data runtime: numpy, pandas and matplotlib imported warm through Executor, by docker run, and by the host's python3.
async Task MeasureDataRuntimeAsync(int runs)
{
    Console.WriteLine("measuring the data runtime: host python3 importing numpy, pandas and matplotlib ...");
    var hostImport = await DataRuntime.HostPythonAsync(runs);
    Console.WriteLine("measuring the data runtime: docker run --rm ...");
    var dockerImport = await DataRuntime.DockerRunAsync(Math.Max(5, runs / 2));
    Stats warm, coldData;
    await using (var stack = await Stack.StartAsync(warmPool: true, poolSize: 2))
    {
        Console.WriteLine("measuring the data runtime: Executor warm and cold ...");
        warm = await DataRuntime.ExecutorAsync(stack, runs, warm: true);
        coldData = await DataRuntime.ExecutorAsync(stack, Math.Max(5, runs / 2), warm: false);
    }
    var culture = CultureInfo.InvariantCulture;
    Console.WriteLine();
    Console.WriteLine($"| {DataRuntime.Script} | median ms | p95 ms | min ms | runs |");
    Console.WriteLine("|---|---:|---:|---:|---:|");
    foreach (var s in new[] { warm, coldData, dockerImport, hostImport })
    {
        Console.WriteLine($"| {s.Name} | {s.Median.ToString("0.0", culture)} | {s.P95.ToString("0.0", culture)} | {s.Min.ToString("0.0", culture)} | {s.Count} |");
    }
    Console.WriteLine($"| ratio: Executor warm / host python3 | {(warm.Median / hostImport.Median).ToString("0.00", culture)} (target < 1) | | | |");
    Console.WriteLine($"| ratio: docker run / Executor warm | {(dockerImport.Median / warm.Median).ToString("0.0", culture)}× | | | |");
}

// Stateful sandboxes: create to first result, a call against the host spawning python3, pandas in the data runtime, and
// the memory of idle sandboxes with how many of them this machine's memory holds.
async Task MeasureSandboxesAsync(IDockerClient engine, Stats hostPython, int runs)
{
    Console.WriteLine("measuring the data runtime's baseline: df.describe() in the host's python3 ...");
    var hostDescribe = await Sandboxes.HostDescribeAsync(runs);
    SandboxFigures figures;
    double servicesMib;
    await using (var stack = await Stack.StartAsync(warmPool: true, poolSize: 2))
    {
        figures = await Sandboxes.MeasureAsync(stack, engine, runs);
        servicesMib = Stack.ServiceMemory().Sum(m => m.Mib);
    }
    var culture = CultureInfo.InvariantCulture;
    string Ms(double v) => v.ToString(v < 100 ? "0.0" : "0", culture);
    Console.WriteLine();
    Console.WriteLine("| Stateful sandboxes | median ms | p95 ms | min ms | runs |");
    Console.WriteLine("|---|---:|---:|---:|---:|");
    foreach (var s in new[] { figures.CreateToResult, figures.Create, figures.FirstCall, figures.SecondCall, figures.Call, figures.CallInSandbox,
        hostPython, figures.Describe, figures.DescribeInSandbox, hostDescribe }.OfType<Stats>())
    {
        Console.WriteLine($"| {s.Name} | {Ms(s.Median)} | {Ms(s.P95)} | {Ms(s.Min)} | {s.Count} |");
    }
    Console.WriteLine();
    Console.WriteLine("| Ratio | value | target |");
    Console.WriteLine("|---|---:|---|");
    Console.WriteLine($"| create → result of x + 1 after x = 1, median | {Ms(figures.CreateToResult.Median)} ms | ≤ 25 ms |");
    Console.WriteLine($"| a call of x + 1 in a live sandbox / host python3 -c 'print(1)', medians | {(figures.Call.Median / hostPython.Median).ToString("0.00", culture)} | ≤ 1.0 |");
    if (hostDescribe is not null)
    {
        Console.WriteLine($"| df.describe() through Executor / in the host's python3, medians | {(figures.Describe.Median / hostDescribe.Median).ToString("0.0", culture)}× | |");
    }

    // What this machine holds: its memory less what Executor's four services use, shared by idle sandboxes; and, if every
    // sandbox grew to its memory limit, the memory over the limit (the bound that no overcommit can break).
    var machineMib = MachineMemoryMib();
    Console.WriteLine();
    Console.WriteLine($"| Idle sandbox (after one call) | container memory, median MiB | min–max MiB | idle sandboxes in {machineMib / 1024:0.0} GiB | at their limit (memory_mb) |");
    Console.WriteLine("|---|---:|---:|---:|---:|");
    foreach (var idle in new[] { figures.IdleDefault, figures.IdleData })
    {
        var held = (int)((machineMib - servicesMib) / idle.Mib.Median);
        var atLimit = idle.MemoryLimitMb > 0 ? ((int)((machineMib - servicesMib) / idle.MemoryLimitMb)).ToString(culture) + $" ({idle.MemoryLimitMb} MiB each)" : "";
        Console.WriteLine($"| {idle.Runtime} | {idle.Mib.Median.ToString("0.0", culture)} | {idle.Mib.Min.ToString("0.0", culture)}–{idle.Mib.Max.ToString("0.0", culture)} | {held.ToString("N0", culture)} | {atLimit} |");
    }
    Console.WriteLine($"(the machine's memory: {machineMib.ToString("0", culture)} MiB, of which Executor's services used {servicesMib.ToString("0", culture)} MiB)");
}

// MemTotal of /proc/meminfo: what the machine has, not what the bench's own process may use.
static double MachineMemoryMib()
{
    var line = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
    return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
}

// Warm hello world as a settled machine sees it (each run after the previous one's refill and removal), and as
// traffic sees it: a steady 3 runs a second, each from a new connection, with no settling.
async Task<Measured> MeasureAsync(Stack stack, string mode)
{
    // Connections, and enough calls for the JIT to move the hot paths to optimized (tier-1) code.
    await WarmUpAsync(stack, 30);
    Console.WriteLine($"measuring warm end to end, settled ({mode}) ...");
    var settled = new Stats($"Executor warm, end to end, settled ({mode})", await SeriesAsync(stack, latencyRuns, settle: true));
    Console.WriteLine($"measuring warm end to end at a steady 3 runs/s, a new connection each ({mode}) ...");
    var steady = new Stats($"Executor warm at a steady 3 runs/s, new connection each ({mode})", await SteadyAsync(stack, latencyRuns, perSecond: 3));
    return new Measured(settled, steady, 0);
}

async Task WarmUpAsync(Stack stack, int runs)
{
    for (var i = 0; i < runs; i++)
    {
        await stack.HelloWorldAsync();
    }
    await stack.WaitForPoolAsync(2);
}

async Task<List<double>> SeriesAsync(Stack stack, int runs, bool settle)
{
    var samples = new List<double>();
    var ranCold = 0;
    for (var i = 0; i < runs; i++)
    {
        await Task.Delay(settle ? 200 : 250);
        if (settle)
        {
            await stack.WaitForPoolAsync(2);
        }
        var (ms, wasWarm) = await stack.HelloWorldAsync();
        samples.Add(ms);
        ranCold += wasWarm ? 0 : 1;
    }
    if (settle && ranCold > 0)
    {
        Console.WriteLine($"  note: {ranCold} of {runs} warm-path runs found no warm container");
    }
    return samples;
}

async Task<List<double>> SteadyAsync(Stack stack, int runs, double perSecond)
{
    var samples = new List<double>();
    var interval = TimeSpan.FromSeconds(1 / perSecond);
    var next = Stopwatch.StartNew();
    var ranCold = 0;
    for (var i = 0; i < runs; i++)
    {
        var due = interval * i;
        if (due > next.Elapsed)
        {
            await Task.Delay(due - next.Elapsed);
        }
        // An outside client: a new connection every time, as a platform's short-lived request handler would open.
        using var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero })
        {
            BaseAddress = stack.Gateway.BaseAddress,
            Timeout = TimeSpan.FromMinutes(2),
        };
        var (ms, wasWarm) = await Stack.HelloWorldAsync(client);
        samples.Add(ms);
        ranCold += wasWarm ? 0 : 1;
    }
    if (ranCold > 0)
    {
        Console.WriteLine($"  note: {ranCold} of {runs} runs at a steady rate found no warm container");
    }
    return samples;
}

async Task<double> SustainedAsync(Stack stack, int concurrency)
{
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
    return done / clock.Elapsed.TotalSeconds;
}

internal sealed record Measured(Stats Settled, Stats Steady, double RunsPerSecondAt8);
