using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace Executor.Bench.Scale;

/// <summary>
/// --scale: the central tier (the real gateway, SessionService replicas and PostgreSQL) against N simulated runner hosts
/// (<see cref="SimulatedHost"/>), for each replica count and N. Each step: the hosts alone (what heartbeats and waiting
/// claims cost), a steady rate of sessions with a mix of sandbox calls (latency: submitted to claimed, and what the tier
/// adds to a run), then saturation (sessions a second end to end); then the store is read back: every accepted session
/// ended once, with its own output.
/// </summary>
public static class ScaleRun
{
    /// <summary>The steady phase's mix: 3 of 4 sessions hold their slot 20 ms and print one line; 1 of 4 holds 100 ms and streams 4 frames.</summary>
    private static (int HoldMs, int Frames) Mix(int i) => i % 4 == 3 ? (100, 4) : (20, 0);

    public static async Task RunAsync(Report report, bool quick, IReadOnlyList<string> args)
    {
        int[] replicaCounts = Given(args, "--replicas") ?? (quick ? [1, 2] : [1, 2, 4]);
        int[] hostCounts = Given(args, "--hosts") ?? (quick ? [2, 100] : [2, 10, 50, 100]);
        var idleSeconds = quick ? 5 : 8;
        var phaseSeconds = quick ? 8 : 15;
        const int Rate = 20;
        const int Concurrency = 32;
        const int SlotsPerHost = 8;
        var points = new List<ScalePoint>();
        foreach (var replicas in replicaCounts)
        {
            Console.WriteLine($"scale: starting the central tier: PostgreSQL, {replicas} SessionService replica(s), the gateway ...");
            report.Mark($"{replicas} replica(s)");
            await using var tier = await CentralTier.StartAsync(replicas);
            var ledger = new HostLedger();
            var handler = new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) };
            var hosts = new List<SimulatedHost>();
            try
            {
                foreach (var hostCount in hostCounts)
                {
                    while (hosts.Count < hostCount)
                    {
                        var endpoint = tier.ReplicaEndpoints[hosts.Count % replicas];
                        var host = new SimulatedHost($"sim-{hosts.Count + 1:000}", tier.HostSecret,
                            new HttpClient(handler, disposeHandler: false) { BaseAddress = endpoint, Timeout = TimeSpan.FromSeconds(60) }, SlotsPerHost, ledger);
                        host.Start();
                        hosts.Add(host);
                    }
                    Console.WriteLine($"scale: {replicas} replica(s), {hostCount} hosts ...");
                    await WaitAvailableAsync(tier);
                    await Task.Delay(TimeSpan.FromSeconds(3)); // every host beat at least once
                    var point = await MeasureAsync(tier, ledger, hostCount, idleSeconds, phaseSeconds, Rate, Concurrency);
                    points.Add(point);
                    report.Scale.Add(point);
                    Print(point);
                }
            }
            finally
            {
                await Task.WhenAll(hosts.Select(h => h.DisposeAsync().AsTask()));
                handler.Dispose();
            }
        }
        Console.WriteLine();
        PrintTable(points);
    }

    private static async Task<ScalePoint> MeasureAsync(CentralTier tier, HostLedger ledger, int hosts, int idleSeconds, int phaseSeconds, int rate, int concurrency)
    {
        var failures = new ConcurrentDictionary<string, int>();
        var accepted = new ConcurrentDictionary<string, SimulatedScript>();
        var failuresBefore = ledger.Failures.ToDictionary(f => f.Key, f => f.Value);

        // The hosts alone: heartbeats and claims waiting for work.
        var beatsBefore = ledger.Heartbeats;
        var idleStart = await tier.ReadAsync();
        await Task.Delay(TimeSpan.FromSeconds(idleSeconds));
        var idle = (await tier.ReadAsync()).Since(idleStart);
        var beatsPerSecond = (ledger.Heartbeats - beatsBefore) / idle.Seconds;

        // A steady rate, with sandbox calls beside: a tenth of the hosts hold a sandbox, called about once a second.
        using var sampler = new CancellationTokenSource();
        var peaks = SamplePeaksAsync(tier, sampler.Token);
        var sandboxes = await CreateSandboxesAsync(tier, Math.Max(1, hosts / 10), failures);
        var steadyStart = await tier.ReadAsync();
        var steady = new ConcurrentBag<(double Ms, double AddedMs, string Id)>();
        var calls = new ConcurrentBag<double>();
        var clock = Stopwatch.StartNew();
        var callers = sandboxes.Select(id => CallSandboxAsync(tier, id, TimeSpan.FromSeconds(phaseSeconds), calls, failures)).ToList();
        var runs = new List<Task>();
        for (var i = 0; clock.Elapsed < TimeSpan.FromSeconds(phaseSeconds); i++)
        {
            var due = TimeSpan.FromSeconds((double)i / rate);
            if (due > clock.Elapsed)
            {
                await Task.Delay(due - clock.Elapsed);
            }
            var (hold, frames) = Mix(i);
            runs.Add(SubmitAsync(tier, hold, frames, steady, accepted, failures));
        }
        await Task.WhenAll(runs.Concat(callers));
        var steadyUsage = (await tier.ReadAsync()).Since(steadyStart);
        await DeleteSandboxesAsync(tier, sandboxes);

        // Saturation: clients back to back, each waiting for its result, as many sessions a second as the tier passes.
        var saturated = new ConcurrentBag<(double Ms, double AddedMs, string Id)>();
        var saturationStart = await tier.ReadAsync();
        var saturation = Stopwatch.StartNew();
        var counter = 0;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (saturation.Elapsed < TimeSpan.FromSeconds(phaseSeconds))
            {
                var (hold, frames) = Mix(Interlocked.Increment(ref counter));
                await SubmitAsync(tier, hold, frames, saturated, accepted, failures);
            }
        }));
        var saturationSeconds = saturation.Elapsed.TotalSeconds;
        var saturationUsage = (await tier.ReadAsync()).Since(saturationStart);
        await sampler.CancelAsync();
        var (peakConnections, peakLockWaits) = await peaks;

        // The store's word: every accepted session ended, completed, with its own output; none was given out twice.
        var stored = await WaitEndedAsync(tier, accepted.Keys.ToList());
        var lost = accepted.Count(a => !stored.TryGetValue(a.Key, out var s) || s.Status != "completed"
            || s.Logs != SimulatedScript.ExpectedOutput(a.Value));
        var claimLatency = steady.Where(s => ledger.ClaimedAt.ContainsKey(s.Id) && stored.ContainsKey(s.Id))
            .Select(s => (ledger.ClaimedAt[s.Id] - stored[s.Id].CreatedAt).TotalMilliseconds).ToArray();
        foreach (var (kind, count) in ledger.Failures)
        {
            var earlier = failuresBefore.GetValueOrDefault(kind);
            if (count > earlier)
            {
                failures[$"host {kind}"] = count - earlier;
            }
        }
        var steadyStats = new Stats("added", [.. steady.Select(s => s.AddedMs)]);
        var claimStats = new Stats("claim", claimLatency);
        var callStats = new Stats("call", [.. calls]);
        var sessionsPerSecond = saturated.Count / saturationSeconds;
        return new ScalePoint(
            tier.Replicas, hosts, Round(sessionsPerSecond), Round(steady.Count / (double)phaseSeconds),
            Round(claimStats.Median), Round(claimStats.Percentile(0.99)), Round(steadyStats.Median), Round(steadyStats.Percentile(0.99)),
            Round(callStats.Median), Round(callStats.Percentile(0.99)),
            Round(new Stats("saturated", [.. saturated.Select(s => s.Ms)]).Median),
            Round(beatsPerSecond), Round(idle.TransactionsPerSecond), Round(idle.CoresOf("SessionService")), Round(idle.CoresOf("postgres")),
            Round(steadyUsage.TransactionsPerSecond / Math.Max(1, (steady.Count + calls.Count) / (double)phaseSeconds)),
            Round(saturationUsage.TransactionsPerSecond), Round(saturationUsage.CoresOf("SessionService")), Round(saturationUsage.CoresOf("postgres")),
            Round(saturationUsage.CoresOf("Gateway")), Round(saturationUsage.CoresOf("bench")),
            Round(saturationUsage.ResidentMib.GetValueOrDefault("SessionService") / tier.Replicas),
            peakConnections, peakLockWaits, saturationUsage.Deadlocks + steadyUsage.Deadlocks,
            accepted.Count, lost, ledger.Duplicates.Count, new SortedDictionary<string, int>(failures));
    }

    /// <summary>Submits one session through the gateway in wait mode; records its time and what the tier added to its hold.</summary>
    private static async Task SubmitAsync(CentralTier tier, int holdMs, int frames, ConcurrentBag<(double, double, string)> times,
        ConcurrentDictionary<string, SimulatedScript> accepted, ConcurrentDictionary<string, int> failures)
    {
        var token = Guid.NewGuid().ToString("N");
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes(SimulatedScript.Source(holdMs, frames, token)));
        file.Headers.ContentType = new MediaTypeHeaderValue("text/x-python");
        form.Add(file, "file", "main.py");
        var clock = Stopwatch.StartNew();
        try
        {
            using var response = await tier.Gateway.PostAsync("/execute?wait=true&wait_seconds=60", form);
            var ms = clock.Elapsed.TotalMilliseconds;
            if (response.StatusCode != HttpStatusCode.OK)
            {
                failures.AddOrUpdate($"submit: {(int)response.StatusCode}", 1, (_, n) => n + 1);
                return;
            }
            var result = await response.Content.ReadFromJsonAsync<JsonElement>();
            if (result.TryGetProperty("session_id", out var id))
            {
                accepted[id.GetString()!] = new SimulatedScript(holdMs, frames, token);
                if (result.TryGetProperty("logs", out var logs))
                {
                    times.Add((ms, ms - holdMs, id.GetString()!));
                }
                else
                {
                    failures.AddOrUpdate("submit: still running after 60 s", 1, (_, n) => n + 1);
                }
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException)
        {
            failures.AddOrUpdate($"submit: {e.GetType().Name}", 1, (_, n) => n + 1);
        }
    }

    private static async Task<List<string>> CreateSandboxesAsync(CentralTier tier, int count, ConcurrentDictionary<string, int> failures)
    {
        var created = await Task.WhenAll(Enumerable.Range(0, count).Select(async _ =>
        {
            using var response = await tier.Gateway.PostAsJsonAsync("/sandboxes", new { idle_timeout_seconds = 300 });
            if (response.StatusCode != HttpStatusCode.Created)
            {
                var problem = await response.Content.ReadAsStringAsync();
                Console.WriteLine($"  sandbox create: {(int)response.StatusCode} {problem}");
                failures.AddOrUpdate($"sandbox create: {(int)response.StatusCode}", 1, (_, n) => n + 1);
                return null;
            }
            return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("sandbox_id").GetString();
        }));
        return [.. created.OfType<string>()];
    }

    /// <summary>Calls one sandbox about once a second for the phase (each call holds 20 ms on its host); records each call's time.</summary>
    private static async Task CallSandboxAsync(CentralTier tier, string sandboxId, TimeSpan phase, ConcurrentBag<double> times, ConcurrentDictionary<string, int> failures)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < phase)
        {
            var token = Guid.NewGuid().ToString("N");
            var call = Stopwatch.StartNew();
            try
            {
                using var response = await tier.Gateway.PostAsJsonAsync($"/sandboxes/{sandboxId}/run", new { code = SimulatedScript.Source(20, 0, token) });
                var body = await response.Content.ReadAsStringAsync();
                if (response.StatusCode == HttpStatusCode.OK && body.Contains(token, StringComparison.Ordinal))
                {
                    times.Add(call.Elapsed.TotalMilliseconds - 20);
                }
                else
                {
                    failures.AddOrUpdate($"sandbox call: {(int)response.StatusCode}", 1, (_, n) => n + 1);
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                failures.AddOrUpdate($"sandbox call: {e.GetType().Name}", 1, (_, n) => n + 1);
            }
            var wait = TimeSpan.FromSeconds(1) - call.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait);
            }
        }
    }

    private static async Task DeleteSandboxesAsync(CentralTier tier, IEnumerable<string> sandboxes) =>
        await Task.WhenAll(sandboxes.Select(async id => (await tier.Gateway.DeleteAsync($"/sandboxes/{id}")).Dispose()));

    /// <summary>The most connections PostgreSQL held for the tier, and the most statements waiting on a lock, sampled twice a second.</summary>
    private static async Task<(int Connections, int LockWaits)> SamplePeaksAsync(CentralTier tier, CancellationToken stop)
    {
        var (connections, lockWaits) = (0, 0);
        while (!stop.IsCancellationRequested)
        {
            var reading = await tier.ReadAsync();
            connections = Math.Max(connections, reading.Connections);
            lockWaits = Math.Max(lockWaits, reading.LockWaits);
            try
            {
                await Task.Delay(500, stop);
            }
            catch (OperationCanceledException)
            {
            }
        }
        return (connections, lockWaits);
    }

    /// <summary>The store's record of each session, once none is queued or running (at most a minute).</summary>
    private static async Task<Dictionary<string, (string Status, DateTimeOffset CreatedAt, string? Logs)>> WaitEndedAsync(CentralTier tier, List<string> ids)
    {
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (true)
        {
            var stored = await tier.SessionsAsync(ids);
            if (DateTime.UtcNow > deadline || stored.Values.All(s => s.Status is not ("queued" or "running")))
            {
                return stored;
            }
            await Task.Delay(500);
        }
    }

    /// <summary>Waits until the gateway takes submissions (some host is alive).</summary>
    private static async Task WaitAvailableAsync(CentralTier tier)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            using var response = await tier.Gateway.GetAsync("/runtimes");
            if (response.IsSuccessStatusCode && (await response.Content.ReadAsStringAsync()).Contains("python-3.11", StringComparison.Ordinal))
            {
                return;
            }
            await Task.Delay(200);
        }
    }

    /// <summary>A list of counts given on the command line (--hosts 10,100), or null.</summary>
    private static int[]? Given(IReadOnlyList<string> args, string option) =>
        args.SkipWhile(a => a != option).Skip(1).FirstOrDefault() is { } list
            ? [.. list.Split(',').Select(n => int.Parse(n, CultureInfo.InvariantCulture))]
            : null;

    private static double Round(double value) => double.IsNaN(value) ? double.NaN : Math.Round(value, value < 10 ? 2 : 1);

    private static string F(double value) => value.ToString(value < 10 ? "0.00" : "0.0", CultureInfo.InvariantCulture);

    private static void Print(ScalePoint p) =>
        Console.WriteLine($"  {p.Replicas} replica(s), {p.Hosts} hosts: {F(p.SessionsPerSecond)} sessions/s saturated; claim p50 {F(p.ClaimP50Ms)} ms, "
            + $"p99 {F(p.ClaimP99Ms)} ms; added p50 {F(p.AddedP50Ms)} ms, p99 {F(p.AddedP99Ms)} ms; idle {F(p.IdleTransactionsPerSecond)} tx/s; "
            + $"accepted {p.Accepted}, lost {p.Lost}, run twice {p.RunTwice}"
            + (p.Failures.Count == 0 ? "" : "; failures: " + string.Join(", ", p.Failures.Select(f => $"{f.Key} ×{f.Value}"))));

    public static void PrintTable(IReadOnlyList<ScalePoint> points)
    {
        Console.WriteLine("| replicas | hosts | sessions/s saturated | claim p50 / p99 ms | added p50 / p99 ms | sandbox call p50 / p99 ms "
            + "| idle: beats/s, tx/s, replicas' cores, postgres cores | steady tx per session | saturated: tx/s, replicas' / postgres / gateway / bench cores "
            + "| replica MiB | peak connections | lock waits | accepted | lost | run twice | failures |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var p in points)
        {
            Console.WriteLine($"| {p.Replicas} | {p.Hosts} | {F(p.SessionsPerSecond)} | {F(p.ClaimP50Ms)} / {F(p.ClaimP99Ms)} | {F(p.AddedP50Ms)} / {F(p.AddedP99Ms)} "
                + $"| {F(p.CallP50Ms)} / {F(p.CallP99Ms)} | {F(p.IdleBeatsPerSecond)}, {F(p.IdleTransactionsPerSecond)}, {F(p.IdleReplicaCores)}, {F(p.IdlePostgresCores)} "
                + $"| {F(p.SteadyTransactionsPerSession)} | {F(p.SaturatedTransactionsPerSecond)}, {F(p.SaturatedReplicaCores)} / {F(p.SaturatedPostgresCores)} / {F(p.SaturatedGatewayCores)} / {F(p.SaturatedBenchCores)} "
                + $"| {F(p.ReplicaResidentMib)} | {p.PeakConnections} | {p.PeakLockWaits} | {p.Accepted} | {p.Lost} | {p.RunTwice} "
                + $"| {(p.Failures.Count == 0 ? "none" : string.Join(", ", p.Failures.Select(f => $"{f.Key} ×{f.Value}")))} |");
        }
    }
}

/// <summary>One step of --scale: R replicas, N simulated hosts, and what the central tier did.</summary>
public sealed record ScalePoint(
    int Replicas,
    int Hosts,
    double SessionsPerSecond,
    double SteadySessionsPerSecond,
    double ClaimP50Ms,
    double ClaimP99Ms,
    double AddedP50Ms,
    double AddedP99Ms,
    double CallP50Ms,
    double CallP99Ms,
    double SaturatedMedianMs,
    double IdleBeatsPerSecond,
    double IdleTransactionsPerSecond,
    double IdleReplicaCores,
    double IdlePostgresCores,
    double SteadyTransactionsPerSession,
    double SaturatedTransactionsPerSecond,
    double SaturatedReplicaCores,
    double SaturatedPostgresCores,
    double SaturatedGatewayCores,
    double SaturatedBenchCores,
    double ReplicaResidentMib,
    int PeakConnections,
    int PeakLockWaits,
    long Deadlocks,
    int Accepted,
    int Lost,
    int RunTwice,
    SortedDictionary<string, int> Failures);
