using System.Diagnostics;
using System.Text.Json;

namespace Executor.Bench;

/// <summary>
/// The stateful clients people already have, against Executor's native API, in one run: a sandbox created, then the
/// result of 1 + 1, by E2B's SDK (`Sandbox.create()` then `runCode('1+1')`), by @jupyterlab/services (a kernel started,
/// then `requestExecute` done) and by POST /sandboxes then POST /sandboxes/{id}/run. Each sample starts on a settled
/// pool, as the native figures of --sandboxes do; the Node clients are timed inside their own process (Node's start and
/// its imports are not a surface's cost), by tests/clients/bench-*.mjs.
/// </summary>
public static class Clients
{
    private static readonly string ClientsRoot = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../tests/clients"));

    public static async Task<IReadOnlyList<(string Surface, Stats Create, Stats Total)>> MeasureAsync(Stack stack, int runs)
    {
        var measured = new List<(string, Stats, Stats)>();
        Console.WriteLine("measuring the native API: POST /sandboxes, then 1 + 1 ...");
        var (nativeCreate, nativeTotal) = await SeriesAsync(stack, runs, () => NativeAsync(stack.Gateway));
        measured.Add(("native API (POST /sandboxes, POST /sandboxes/{id}/run)", nativeCreate, nativeTotal));
        var url = stack.Gateway.BaseAddress!.ToString().TrimEnd('/') + "/";
        foreach (var (surface, script) in new[] { ("E2B SDK (e2b 2.51.0, @e2b/code-interpreter 2.8.0)", "bench-e2b.mjs"), ("Jupyter (@jupyterlab/services 7.6.6)", "bench-jupyter.mjs") })
        {
            Console.WriteLine($"measuring {surface} ...");
            var (create, total) = await SeriesAsync(stack, runs, () => NodeAsync(script, url));
            measured.Add((surface, create, total));
        }
        return measured;
    }

    private static async Task<(Stats Create, Stats Total)> SeriesAsync(Stack stack, int runs, Func<Task<(double Create, double Total)>> sample)
    {
        var create = new List<double>();
        var total = new List<double>();
        for (var i = 0; i < runs + 3; i++)
        {
            await stack.WaitForPoolAsync(2);
            await Task.Delay(200); // the previous sandbox's removal
            var (c, t) = await sample();
            if (i >= 3) // connections, JIT, the runner's first kernel
            {
                create.Add(c);
                total.Add(t);
            }
        }
        return (new Stats("create", create), new Stats("create → result of 1 + 1", total));
    }

    private static async Task<(double Create, double Total)> NativeAsync(HttpClient gateway)
    {
        var sw = Stopwatch.StartNew();
        var id = await Sandboxes.CreateAsync(gateway, runtime: null);
        var created = sw.Elapsed.TotalMilliseconds;
        var result = await Sandboxes.RunAsync(gateway, id, "1 + 1");
        var total = sw.Elapsed.TotalMilliseconds;
        if (result.GetProperty("results")[0].GetProperty("text/plain").GetString() != "2")
        {
            throw new InvalidOperationException($"1 + 1 gave {result}");
        }
        await Sandboxes.DeleteAsync(gateway, id);
        return (created, total);
    }

    /// <summary>
    /// One sample by a Node client: the script makes and ends one sandbox and prints its figures as JSON (E2B's: create_ms,
    /// create_and_run_ms; Jupyter's: start_ms, total_ms). The open mode takes "e2b_00" as no key (E2B's SDK needs one).
    /// </summary>
    private static async Task<(double Create, double Total)> NodeAsync(string script, string url)
    {
        using var process = Process.Start(new ProcessStartInfo("node", [Path.Combine(ClientsRoot, script), url, "e2b_00", "1"])
        {
            WorkingDirectory = ClientsRoot, RedirectStandardOutput = true, RedirectStandardError = true,
        })!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{script} failed ({process.ExitCode}): {await errors}");
        }
        var figures = JsonDocument.Parse((await output).Trim().Split('\n')[^1]).RootElement;
        double Figure(params string[] names) => names.Select(n => figures.TryGetProperty(n, out var v) ? v.GetDouble() : (double?)null).First(v => v is not null)!.Value;
        return (Figure("create_ms", "start_ms"), Figure("create_and_run_ms", "total_ms"));
    }
}
