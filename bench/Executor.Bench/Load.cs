using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Executor.Bench;

/// <summary>
/// Overload: many more submissions than the stack can run at once. Every submission must be either refused at submit
/// time (429/503, nothing stored) or accepted and end in a terminal status; none lost, none stuck, no orphan left.
/// </summary>
public static class Load
{
    public static async Task RunAsync(Stack stack, IDockerClient docker, Report report, int submissions, int concurrency, string mode)
    {
        Console.WriteLine($"load: {submissions} submissions at concurrency {concurrency} ({mode}) ...");
        var refused = new ConcurrentDictionary<int, int>();
        var accepted = new ConcurrentBag<string>();
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) < submissions)
            {
                using var form = new MultipartFormDataContent();
                var file = new ByteArrayContent("import random\nprint(sum(random.random() for _ in range(10000)))\n"u8.ToArray());
                file.Headers.ContentType = new MediaTypeHeaderValue("text/x-python");
                form.Add(file, "file", "main.py");
                using var response = await stack.Gateway.PostAsync("/execute", form);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    accepted.Add((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("session_id").GetString()!);
                }
                else
                {
                    refused.AddOrUpdate((int)response.StatusCode, 1, (_, n) => n + 1);
                }
            }
        }));
        var submitSeconds = clock.Elapsed.TotalSeconds;

        var statuses = new ConcurrentDictionary<string, int>();
        var deadline = DateTime.UtcNow.AddMinutes(10);
        await Parallel.ForEachAsync(accepted, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (sessionId, ct) =>
        {
            while (true)
            {
                using var response = await stack.Gateway.GetAsync($"/result/{sessionId}?wait_seconds=30", ct);
                if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    statuses.AddOrUpdate("LOST", 1, (_, n) => n + 1);
                    return;
                }
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    var status = (await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("status").GetString()!;
                    statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
                    return;
                }
                if (DateTime.UtcNow > deadline)
                {
                    statuses.AddOrUpdate("STUCK", 1, (_, n) => n + 1);
                    return;
                }
            }
        });
        var endSeconds = clock.Elapsed.TotalSeconds;

        await stack.WaitForPoolAsync(2);
        var pool = await stack.Prewarm.GetFromJsonAsync<JsonElement>("/pool");
        var runner = await stack.Runner.GetFromJsonAsync<JsonElement>("/state");
        var containers = await docker.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"executor.deployment={Stack.Deployment}"] = true } },
        });
        var expected = pool.GetProperty("ready").GetInt32() + runner.GetProperty("slots_ready").GetInt32();

        Console.WriteLine();
        Console.WriteLine($"| Load ({mode}): {submissions} submissions, concurrency {concurrency} | count |");
        Console.WriteLine("|---|---:|");
        Console.WriteLine($"| accepted (200) | {accepted.Count} |");
        foreach (var (code, count) in refused.OrderBy(r => r.Key))
        {
            Console.WriteLine($"| refused at submit ({code}) | {count} |");
        }
        foreach (var (status, count) in statuses.OrderBy(s => s.Key))
        {
            Console.WriteLine($"| ended {status} | {count} |");
        }
        Console.WriteLine($"| lost (accepted, then unknown) | {statuses.GetValueOrDefault("LOST")} |");
        Console.WriteLine($"| stuck (not ended after 10 min) | {statuses.GetValueOrDefault("STUCK")} |");
        Console.WriteLine($"| accounted for (accepted + refused) | {accepted.Count + refused.Values.Sum()} of {submissions} |");
        Console.WriteLine($"| orphan containers afterwards | {containers.Count - expected} ({containers.Count} present, {expected} are the pool and the runner's slots) |");
        Console.WriteLine($"| submitting took | {submitSeconds:0.0} s |");
        Console.WriteLine($"| all accepted ended after | {endSeconds:0.0} s |");
        var ended = statuses.Where(s => s.Key is not ("LOST" or "STUCK")).Sum(s => s.Value);
        report.Throughput.Add(new ThroughputPoint("overload", concurrency, Math.Round(ended / endSeconds, 3), null));
        report.Row($"overload ({mode}): accepted", accepted.Count, "submissions");
        report.Row($"overload ({mode}): refused at submit", refused.Values.Sum(), "submissions");
        report.Row($"overload ({mode}): ended", ended, "submissions");
        report.Row($"overload ({mode}): lost or stuck", statuses.GetValueOrDefault("LOST") + statuses.GetValueOrDefault("STUCK"), "submissions");
        report.Row($"overload ({mode}): orphan containers afterwards", containers.Count - expected, "containers");
        report.Row($"overload ({mode}): all accepted ended after", Math.Round(endSeconds, 1), "s");
        report.Row($"overload ({mode}): runs ended a second", Math.Round(ended / endSeconds, 2), "runs/s");
    }
}
