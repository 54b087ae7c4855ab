using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Executor.Bench;

/// <summary>
/// The stateful clients people already have, against Executor's native API, in one run: a sandbox created, then the
/// result of 1 + 1, by E2B's SDK (`Sandbox.create()` then `runCode('1+1')`), by @jupyterlab/services (a kernel started,
/// then `requestExecute` done) and by POST /sandboxes then POST /sandboxes/{id}/run. Each sample starts on a settled
/// pool, as the native figures of --sandboxes do; the Node clients are timed inside their own process, warm (Node's start,
/// its imports and its first connection are not a surface's cost), by tests/clients/bench-*.mjs.
/// </summary>
public static class Clients
{
    private static readonly string ClientsRoot = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../tests/clients"));

    private const int WarmUp = 3;

    /// <summary>What the native series waits between samples (the pool's refill and the last sandbox's removal), about.</summary>
    private const int SettleMs = 700;

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
            await stack.WaitForPoolAsync(2);
            var (create, total) = await NodeAsync(script, url, runs);
            measured.Add((surface, create, total));
        }
        return measured;
    }

    private static async Task<(Stats Create, Stats Total)> SeriesAsync(Stack stack, int runs, Func<Task<(double Create, double Total)>> sample)
    {
        var create = new List<double>();
        var total = new List<double>();
        for (var i = 0; i < runs + WarmUp; i++)
        {
            await stack.WaitForPoolAsync(2);
            await Task.Delay(200); // the previous sandbox's removal
            var (c, t) = await sample();
            if (i >= WarmUp) // connections, JIT, the runner's first kernel
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
    /// A Node client's series, in one process (warm, as a program that uses it is): the script makes and ends a sandbox
    /// per sample, pausing between samples as long as the pool takes to settle, and prints every sample (E2B's:
    /// create_samples, total_samples; Jupyter's: start_samples, total_samples). The first three are its warm-up. The
    /// open mode takes "e2b_00" as no key (E2B's SDK needs one).
    /// </summary>
    private static async Task<(Stats Create, Stats Total)> NodeAsync(string script, string url, int runs)
    {
        using var process = Process.Start(new ProcessStartInfo("node",
            [Path.Combine(ClientsRoot, script), url, "e2b_00", (runs + WarmUp).ToString(CultureInfo.InvariantCulture), SettleMs.ToString(CultureInfo.InvariantCulture)])
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
        List<double> Samples(params string[] names) => [.. names.Where(n => figures.TryGetProperty(n, out _)).Select(n => figures.GetProperty(n))
            .First().EnumerateArray().Skip(WarmUp).Select(v => v.GetDouble())];
        return (new Stats("create", Samples("create_samples", "start_samples")), new Stats("create → result of 1 + 1", Samples("total_samples")));
    }
}
