using System.Diagnostics;
using System.Globalization;
using Docker.DotNet;
using Executor.Bench;

// One command, one machine, one run: every figure below is measured side by side, printed as markdown tables, written
// with its raw samples to bench/results/<mode>.json and drawn from it into docs/perf/<mode>-*.png.
//   dotnet run -c Release --project bench/Executor.Bench [-- --quick | --traffic | --latency | --live | --runtimes | --sandboxes | --clients | --egress | --languages | --load [--postgres]]
//   dotnet run -c Release --project bench/Executor.Bench -- --draw bench/results/full.json [bench/results/load.json ...]
if (args.Contains("--draw"))
{
    // Redraws from saved figures alone (another machine's too); later files add their series, points and rows to the first's.
    var files = args.SkipWhile(a => a != "--draw").Skip(1).ToArray();
    var drawn = Report.Merge([.. (files.Length > 0 ? files : ["bench/results/full.json"]).Select(Report.Load)]);
    foreach (var picture in Pictures.Draw(drawn, Path.Combine(Repository.Root, "docs", "perf")))
    {
        Console.WriteLine($"picture: {Path.GetRelativePath(Repository.Root, picture)}");
    }
    return;
}

var postgresMode = args.Contains("--postgres");
var quick = args.Contains("--quick") || args.Contains("--latency");
var latencyRuns = quick ? 20 : 60;
var throughputSeconds = quick ? 6 : 15;
string[] modes = ["--load", "--live", "--runtimes", "--clients", "--languages", "--egress", "--sandboxes", "--traffic", "--scale", "--latency", "--quick"];
var mode = modes.FirstOrDefault(args.Contains)?.TrimStart('-') ?? "full";
var report = Report.Begin(mode == "load" && postgresMode ? "load-postgres" : mode);
using var docker = new DockerClientBuilder().WithEndpoint(new Uri("unix:///var/run/docker.sock")).Build();
await Stack.SweepLeftoversAsync(docker);
var timeline = new Timeline(docker, report);
try
{
    if (args.Contains("--scale"))
    {
        await Executor.Bench.Scale.ScaleRun.RunAsync(report, args.Contains("--quick"), args);
        return;
    }

    if (args.Contains("--load"))
    {
        report.Mark($"overload ({(postgresMode ? "postgres" : "embedded")})");
        await using var loaded = await Stack.StartAsync(warmPool: true, poolSize: 2, postgres: postgresMode);
        await Load.RunAsync(loaded, docker, report, submissions: 1000, concurrency: 50, postgresMode ? "postgres" : "embedded");
        return;
    }

    if (args.Contains("--live"))
    {
        // How soon a script's first byte reaches a live client, in both modes.
        foreach (var pg in new[] { false, true })
        {
            report.Mark(pg ? "postgres" : "embedded");
            await using var live = await Stack.StartAsync(warmPool: true, poolSize: 2, postgres: pg);
            var (sse, ws) = await Live.FirstByteAsync(live, 20, pg ? "postgres" : "embedded");
            foreach (var s in new[] { sse, ws })
            {
                report.Add("live", s);
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
            report.Add("clients", new Stats($"{surface}: to the result", total.Samples));
            report.Add("clients", new Stats($"{surface}: create", create.Samples));
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
        await using (var stack = await Stack.StartAsync(warmPool: true, poolSize: 1, settings: Languages.Settings))
        {
            var c = await Languages.ExecutorAsync(stack, "c-gcc-12", "main.c", Languages.CHello, runs, "Executor warm, c-gcc-12: compile + run, submit → result");
            Languages.Print("C hello world", Record("languages", c,
                await Languages.HostAsync("host: gcc -O2 main.c, then ./main", "gcc -O2 -pipe -o main main.c && ./main", runs),
                await Languages.DockerRunCAsync(runs)));
            var js = await Languages.ExecutorAsync(stack, "javascript-node-18", "main.js", Languages.JsHello, runs, "Executor warm, javascript-node-18, submit → result");
            Languages.Print("JavaScript hello world", Record("languages", js, await Languages.HostAsync("host: node main.js", "node main.js", runs)));
            var java = await Languages.ExecutorAsync(stack, "java-17", "Main.java", Languages.JavaHello, runs, "Executor warm, java-17: javac + java, submit → result");
            Languages.Print("Java hello world", Record("languages", java,
                await Languages.HostAsync("host: javac Main.java, then java Main (same JVM flags)",
                    "javac -J-XX:+UseSerialGC -J-XX:TieredStopAtLevel=1 -d . Main.java && java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp . Main", runs),
                await Languages.HostAsync("host: java Main.java (source launcher)", "java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 Main.java", runs)));
            var (graded, sequential, concurrent) = await Languages.CasesAsync(stack, args.Contains("--quick") ? 2 : 5);
            Languages.Print("20 test cases (C++ a + b)", Record("graded", graded, sequential, concurrent));
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
        Record("egress", egress.Warm, egress.Cold, egress.WithEgress);
        report.Add("egress", egress.Proxied, unit: "MiB/s");
        report.Add("egress", egress.Direct, unit: "MiB/s");
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
        Console.WriteLine("measuring host python3 ...");
        await MeasureSandboxesAsync(docker, await Baselines.HostPythonAsync(runs), runs);
        return;
    }

    var inv = CultureInfo.InvariantCulture;
    Console.WriteLine($"Executor benchmark — {Environment.ProcessorCount} cores, {Math.Round(Machine.MachineMemoryMib() / 1024)} GiB, "
        + $"{System.Runtime.InteropServices.RuntimeInformation.OSDescription}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, load average {report.Machine.LoadAverageBefore}");

    if (args.Contains("--latency") || args.Contains("--traffic"))
    {
        // A first look at the warm path only: --latency settled and at a steady rate, --traffic the four scenarios; both
        // then the distributed mode's store on the settled machine and at the steady rate.
        var scenarios = new List<Scenario>();
        foreach (var pg in new[] { false, true })
        {
            var storeMode = pg ? "postgres" : "embedded";
            report.Mark($"stack: {storeMode}");
            await using var stack = await Stack.StartAsync(warmPool: true, poolSize: 2, postgres: pg);
            scenarios.AddRange(await Traffic.MeasureAsync(stack, timeline, report, pg || args.Contains("--latency") ? Traffic.Pair : Traffic.All, latencyRuns, storeMode));
            if (!pg && args.Contains("--traffic"))
            {
                await IdlePoolContainerAsync(stack);
                ServicesMemory("after the embedded scenarios", Stack.ServiceMemory(), Stack.ServiceProportionalMemory());
            }
        }
        Traffic.Print(scenarios);
        PrintRows();
        return;
    }

    Console.WriteLine("measuring docker run --rm ...");
    report.Mark("docker run --rm");
    var dockerRun = report.Add("cold", await Baselines.DockerRunAsync(quick ? 8 : 20));

    Console.WriteLine("starting the stack (embedded: SQLite) ...");
    report.Mark("stack: embedded");
    List<Scenario> traffic;
    (Stats Sse, Stats WebSocket) firstByte;
    var burstMs = 0.0;
    var burstWarm = 0;
    var throughput = new List<ThroughputPoint>();
    IReadOnlyList<(string Service, double Mib)> memory;
    double proportionalMib;
    await using (var stack = await Stack.StartAsync(warmPool: true, poolSize: 2))
    {
        traffic = await Traffic.MeasureAsync(stack, timeline, report, Traffic.All, latencyRuns, "embedded");
        await IdlePoolContainerAsync(stack);
        Console.WriteLine("measuring the first byte of output to a live client (SSE and WebSocket) ...");
        report.Mark("first byte");
        firstByte = await Live.FirstByteAsync(stack, quick ? 10 : 30, "embedded");
        Record("live", firstByte.Sse, firstByte.WebSocket);

        Console.WriteLine("measuring a burst of 40 from a pool of 40 ...");
        report.Mark("burst of 40");
        await stack.ResizePoolAsync(40);
        await Task.Delay(2000);
        var sw = Stopwatch.StartNew();
        var burst = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => stack.HelloWorldAsync()));
        burstMs = sw.Elapsed.TotalMilliseconds;
        burstWarm = burst.Count(b => b.Warm);
        report.Row("burst: 40 executions from a full pool of 40, all done", burstMs, "ms");
        report.Row("burst: of which ran warm", burstWarm, "runs");
        await stack.ResizePoolAsync(2);

        report.Mark("throughput");
        foreach (var concurrency in new[] { 1, 2, 4, 8, 16, 50 })
        {
            Console.WriteLine($"measuring sustained throughput at concurrency {concurrency} for {throughputSeconds} s, Executor then the engine ...");
            await stack.WaitForPoolAsync(2);
            var executorRate = await SustainedAsync(stack, concurrency);
            await stack.WaitForPoolAsync(2);
            var raw = await Baselines.ContainerLifecyclesPerSecondAsync(docker, concurrency, TimeSpan.FromSeconds(throughputSeconds));
            throughput.Add(new ThroughputPoint("embedded", concurrency, Math.Round(executorRate, 3), Math.Round(raw, 3)));
            report.Throughput.Add(throughput[^1]);
        }
        memory = Stack.ServiceMemory();
        proportionalMib = Stack.ServiceProportionalMemory(); // read while the stack runs, as the resident sets are
    }

    // Resident memory under each garbage collector, the same workload (the services inherit the variable).
    var memoryByGc = new List<(string Gc, double Mib)>();
    foreach (var (gc, server) in new[] { ("server GC", "1"), ("workstation GC", "0") })
    {
        Environment.SetEnvironmentVariable("DOTNET_gcServer", server);
        Console.WriteLine($"measuring resident memory under the {gc} ...");
        report.Mark(gc);
        await using var stack = await Stack.StartAsync(warmPool: true, poolSize: 2);
        await stack.WarmUpAsync(30);
        await Task.Delay(2000);
        memoryByGc.Add((gc, Stack.ServiceMemory().Sum(m => m.Mib)));
    }
    Environment.SetEnvironmentVariable("DOTNET_gcServer", null);

    Console.WriteLine("starting the stack without the warm pool ...");
    report.Mark("cold");
    Stats cold;
    await using (var stack = await Stack.StartAsync(warmPool: false, poolSize: 0))
    {
        await stack.HelloWorldAsync();
        Console.WriteLine("measuring cold end to end ...");
        cold = report.Add("cold", new Stats("Executor cold (pool disabled), end to end", await SeriesAsync(stack, quick ? 8 : 20, settle: false)));
    }

    Console.WriteLine("starting the stack in the distributed mode's store (PostgreSQL, one replica, one host) ...");
    report.Mark("stack: postgres");
    List<Scenario> postgresTraffic;
    double postgresAt8;
    await using (var stack = await Stack.StartAsync(warmPool: true, poolSize: 2, postgres: true))
    {
        postgresTraffic = await Traffic.MeasureAsync(stack, timeline, report, Traffic.Pair, latencyRuns, "postgres");
        Console.WriteLine($"measuring sustained throughput at concurrency 8 for {throughputSeconds} s (postgres) ...");
        await stack.WaitForPoolAsync(2);
        postgresAt8 = await SustainedAsync(stack, 8);
        throughput.Add(new ThroughputPoint("postgres", 8, Math.Round(postgresAt8, 3), null));
        report.Throughput.Add(throughput[^1]);
    }

    // gVisor: the same hello world, warm and cold, with every sandbox under runsc (eng/prerequisites.sh --runsc).
    Stats gvisorWarm, gvisorCold;
    Console.WriteLine("starting the stack under gVisor (runsc) ...");
    report.Mark("gVisor");
    await using (var stack = await Stack.StartAsync(warmPool: true, poolSize: 2, runtime: "runsc"))
    {
        await stack.WarmUpAsync(10);
        Console.WriteLine("measuring warm end to end under runsc ...");
        gvisorWarm = report.Add("cold", new Stats("Executor warm under gVisor (runsc)", await SeriesAsync(stack, quick ? 10 : 30, settle: true)));
    }
    await using (var stack = await Stack.StartAsync(warmPool: false, poolSize: 0, runtime: "runsc"))
    {
        await stack.HelloWorldAsync();
        Console.WriteLine("measuring cold end to end under runsc ...");
        gvisorCold = report.Add("cold", new Stats("Executor cold under gVisor (runsc)", await SeriesAsync(stack, quick ? 8 : 20, settle: false)));
    }

    report.Mark("data runtime");
    await MeasureDataRuntimeAsync(quick ? 8 : 20);
    report.Mark("sandboxes");
    var settled = traffic.Single(t => t.Kind == Traffic.Kind.Settled);
    await MeasureSandboxesAsync(docker, settled.Host, latencyRuns);

    var pgSettled = postgresTraffic.Single(t => t.Kind == Traffic.Kind.Settled);
    var steady = traffic.Single(t => t.Kind == Traffic.Kind.Steady);
    var at8 = throughput.Single(t => t.Mode == "embedded" && t.Concurrency == 8).ExecutorRunsPerSecond;
    string F(double v) => v.ToString(v < 100 ? "0.0" : "0", inv);
    string R(double v) => v.ToString("0.00", inv);
    Traffic.Print([.. traffic, .. postgresTraffic]);
    Console.WriteLine();
    Console.WriteLine("| Hello world | median ms | p95 ms | min ms | runs |");
    Console.WriteLine("|---|---:|---:|---:|---:|");
    foreach (var s in new[] { cold, gvisorWarm, gvisorCold, dockerRun, firstByte.Sse, firstByte.WebSocket })
    {
        Console.WriteLine($"| {s.Name} | {F(s.Median)} | {F(s.P95)} | {F(s.Min)} | {s.Count} |");
    }
    Console.WriteLine();
    Console.WriteLine("| Ratio | value | target |");
    Console.WriteLine("|---|---:|---|");
    foreach (var t in traffic)
    {
        Console.WriteLine($"| warm median / host python3 median, {Traffic.Describe(t.Kind)} | {R(t.Executor.Median / t.Host.Median)} | ≤ 1 |");
        Console.WriteLine($"| warm p95 / median, {Traffic.Describe(t.Kind)} | {R(t.Executor.P95 / t.Executor.Median)} | ≤ 2 |");
    }
    Console.WriteLine($"| docker run --rm median / warm median | {(dockerRun.Median / settled.Executor.Median).ToString("0.0", inv)}× | ≥ 15× |");
    Console.WriteLine($"| cold median / warm median | {(cold.Median / settled.Executor.Median).ToString("0.0", inv)}× | |");
    Console.WriteLine($"| cold median / docker run --rm median | {R(cold.Median / dockerRun.Median)} | ≤ 0.6 |");
    Console.WriteLine($"| postgres warm median − embedded warm median (settled) | {(pgSettled.Executor.Median - settled.Executor.Median).ToString("+0.0;-0.0", inv)} ms | ≤ +2 ms |");
    Console.WriteLine($"| postgres runs/s / embedded runs/s at concurrency 8 | {R(postgresAt8 / at8)} | ≥ 0.95 |");
    Console.WriteLine($"| first byte to an SSE client, median (embedded) | {F(firstByte.Sse.Median)} ms | ≤ 50 ms |");
    Console.WriteLine($"| gVisor warm median / runc warm median | {(gvisorWarm.Median / settled.Executor.Median).ToString("0.0", inv)}× | |");
    Console.WriteLine($"| gVisor cold median / runc cold median | {(gvisorCold.Median / cold.Median).ToString("0.0", inv)}× | |");
    Console.WriteLine();
    var best = throughput.Where(t => t.Mode == "embedded").Max(t => t.ExecutorRunsPerSecond);
    Console.WriteLine("| Sustained, hello world, quotas lifted | Executor runs/s | raw create-start-wait-remove/s | Executor / engine | Executor / its best | target |");
    Console.WriteLine("|---|---:|---:|---:|---:|---|");
    foreach (var t in throughput.Where(t => t.Mode == "embedded"))
    {
        Console.WriteLine($"| concurrency {t.Concurrency} | {R(t.ExecutorRunsPerSecond)} | {R(t.EngineRunsPerSecond ?? 0)} | {R(t.ExecutorRunsPerSecond / (t.EngineRunsPerSecond ?? 1))} | {R(t.ExecutorRunsPerSecond / best)} | ≥ 1.2, ≥ 0.9 |");
    }
    Console.WriteLine($"| concurrency 8, postgres mode | {R(postgresAt8)} | | | | |");
    Console.WriteLine();
    Console.WriteLine($"Burst: 40 executions from a full pool of 40 completed in {F(burstMs)} ms ({burstWarm} warm) — target < 1000 ms");
    ServicesMemory("after the run", memory, proportionalMib);
    foreach (var (gc, mib) in memoryByGc)
    {
        report.Row($"all four services, {gc}, after 30 runs", Math.Round(mib, 1), "MiB");
    }
    PrintRows();
}
finally
{
    await timeline.DisposeAsync();
    report.Save();
}

// Records series into the report under a group, as they are printed.
Stats[] Record(string group, params Stats[] series)
{
    foreach (var s in series)
    {
        report.Add(group, s);
    }
    return series;
}

// The four services' resident memory as rows (each and together).
void ServicesMemory(string when, IReadOnlyList<(string Service, double Mib)> services, double proportionalMib)
{
    foreach (var (service, mib) in services)
    {
        report.Row($"{service}, resident memory {when}", Math.Round(mib, 1), "MiB");
    }
    report.Row($"all four services, resident memory {when} (target ≤ 400)", Math.Round(services.Sum(m => m.Mib), 1), "MiB");
    // The sum of resident sets counts the runtime's shared pages (CoreLib, the JIT, ASP.NET's assemblies) once per
    // process; the proportional set size shares them out, so its sum is the memory the four hold together.
    report.Row($"all four services, proportional set size (shared pages counted once) {when}", Math.Round(proportionalMib, 1), "MiB");
}

// The single figures the mode recorded, as one table.
void PrintRows()
{
    Console.WriteLine();
    Console.WriteLine("| Figure | value |");
    Console.WriteLine("|---|---:|");
    foreach (var row in report.Rows)
    {
        Console.WriteLine($"| {row.Name} | {row.Value.ToString("0.#", CultureInfo.InvariantCulture)} {row.Unit} |");
    }
}

// What an idle warm container costs: the engine's stats of the stack's ready pool containers, median.
async Task IdlePoolContainerAsync(Stack stack)
{
    await stack.WaitForPoolAsync(2);
    await Task.Delay(2000); // idle: booted, nothing running in them
    var mib = await Sandboxes.PoolContainersMemoryMibAsync(docker);
    if (mib.Count == 0)
    {
        Console.WriteLine("  note: no ready pool container answered the engine's stats");
        return;
    }
    var idle = new Stats("idle warm pool container", mib);
    report.Row($"an idle warm pool container (python-3.11), median of {idle.Count}", Math.Round(idle.Median, 1), "MiB");
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
    foreach (var s in Record("runtimes", warm, coldData, dockerImport, hostImport))
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
    foreach (var s in Record("sandboxes", [.. new[] { figures.CreateToResult, figures.Create, figures.FirstCall, figures.SecondCall, figures.Call, figures.CallInSandbox,
        hostPython, figures.Describe, figures.DescribeInSandbox, hostDescribe }.OfType<Stats>()]))
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
    var machineMib = Machine.MachineMemoryMib();
    Console.WriteLine();
    Console.WriteLine($"| Idle sandbox (after one call) | container memory, median MiB | min–max MiB | idle sandboxes in {machineMib / 1024:0.0} GiB | at their limit (memory_mb) |");
    Console.WriteLine("|---|---:|---:|---:|---:|");
    foreach (var idle in new[] { figures.IdleDefault, figures.IdleData })
    {
        var held = (int)((machineMib - servicesMib) / idle.Mib.Median);
        var atLimit = idle.MemoryLimitMb > 0 ? ((int)((machineMib - servicesMib) / idle.MemoryLimitMb)).ToString(culture) + $" ({idle.MemoryLimitMb} MiB each)" : "";
        report.Row($"an idle sandbox after one call ({idle.Runtime}), median", Math.Round(idle.Mib.Median, 1), "MiB");
        Console.WriteLine($"| {idle.Runtime} | {idle.Mib.Median.ToString("0.0", culture)} | {idle.Mib.Min.ToString("0.0", culture)}–{idle.Mib.Max.ToString("0.0", culture)} | {held.ToString("N0", culture)} | {atLimit} |");
    }
    Console.WriteLine($"(the machine's memory: {machineMib.ToString("0", culture)} MiB, of which Executor's services used {servicesMib.ToString("0", culture)} MiB)");
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
