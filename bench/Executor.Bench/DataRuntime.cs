using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Executor.Bench;

/// <summary>
/// The data runtime's promise: a script that imports numpy, pandas and matplotlib starts as fast as it would on the host,
/// because a warm sandbox's launcher imported them before the script arrived. Measured side by side: Executor warm (the
/// python-3.11-data pool), Executor cold (a memory limit of its own sends it to a new container, which imports them
/// itself), docker run --rm of the same image, and the host's own /usr/bin/python3 with Debian's same packages.
/// </summary>
public static class DataRuntime
{
    public const string Runtime = "python-3.11-data";
    public const string Image = "executor-python-data:3.11";
    public const string Script = "import numpy, pandas, matplotlib; print(pandas.__version__)";

    public static async Task<Stats> ExecutorAsync(Stack stack, int runs, bool warm)
    {
        var samples = new List<double>();
        var missed = 0;
        for (var i = 0; i < runs + 1; i++)
        {
            if (warm)
            {
                await WaitForDataPoolAsync(stack);
            }
            var (ms, ranWarm) = await RunAsync(stack.Gateway, warm ? null : "512");
            missed += warm && !ranWarm ? 1 : 0;
            if (i >= 1)
            {
                samples.Add(ms);
            }
        }
        if (missed > 0)
        {
            Console.WriteLine($"  note: {missed} of {runs} warm data runs found no warm container");
        }
        return new Stats(warm ? "Executor warm, python-3.11-data, end to end" : "Executor cold, python-3.11-data, end to end", samples);
    }

    public static async Task<Stats> DockerRunAsync(int runs)
    {
        // The sandbox's limits, but a writable root: matplotlib reads its prebuilt font cache only from a writable
        // directory (Executor copies it to /tmp; here it stays where the image has it).
        string[] arguments =
        [
            "run", "--rm", "--network", "none", "--memory", "384m", "--memory-swap", "384m", "--cpus", "0.5", "--pids-limit", "64",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--log-driver", "none",
            "-e", "MPLBACKEND=Agg", "-e", "MPLCONFIGDIR=/usr/share/executor/matplotlib", "-e", "OPENBLAS_NUM_THREADS=1",
            Image, "python3", "-c", Script,
        ];
        return new Stats("docker run --rm, same image and limits", await TimeProcessAsync("/usr/bin/docker", arguments, runs, warmUp: 1));
    }

    public static async Task<Stats> HostPythonAsync(int runs) =>
        new("host /usr/bin/python3 importing them itself", await TimeProcessAsync("/usr/bin/python3", ["-c", Script], runs, warmUp: 3));

    private static async Task<(double Ms, bool Warm)> RunAsync(HttpClient gateway, string? memoryMb)
    {
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(Encoding.UTF8.GetBytes(Script + "\n"));
        file.Headers.ContentType = new MediaTypeHeaderValue("text/x-python");
        form.Add(file, "file", "main.py");
        form.Add(new StringContent(Runtime), "runtime");
        if (memoryMb is not null)
        {
            form.Add(new StringContent(memoryMb), "memory_mb");
        }
        var sw = Stopwatch.StartNew();
        using var response = await gateway.PostAsync("/execute?wait=true&wait_seconds=60", form);
        var result = await response.Content.ReadFromJsonAsync<JsonElement>();
        var ms = sw.Elapsed.TotalMilliseconds;
        if (response.StatusCode != HttpStatusCode.OK || result.GetProperty("status").GetString() != "completed")
        {
            throw new InvalidOperationException($"the data script did not complete: {(int)response.StatusCode} {result}");
        }
        return (ms, result.GetProperty("warm_start").GetBoolean());
    }

    /// <summary>Waits until the data runtime's pool holds a booted container and none is starting.</summary>
    public static Task WaitForDataPoolAsync(Stack stack) => stack.WaitForPoolAsync(Runtime);

    private static Task<List<double>> TimeProcessAsync(string file, string[] arguments, int runs, int warmUp) =>
        Processes.TimeAsync(file, arguments, null, runs, warmUp, new Dictionary<string, string> { ["MPLBACKEND"] = "Agg" });
}
