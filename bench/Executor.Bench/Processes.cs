using System.Diagnostics;

namespace Executor.Bench;

/// <summary>Baselines that are whole processes (the host's own interpreters and compilers, docker run), timed from start to exit.</summary>
public static class Processes
{
    /// <summary>Each run's wall time in ms, after <paramref name="warmUp"/> runs that are not counted; a failing run fails the bench.</summary>
    public static async Task<List<double>> TimeAsync(string file, string[] arguments, string? directory, int runs, int warmUp,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var samples = new List<double>();
        for (var i = 0; i < runs + warmUp; i++)
        {
            var start = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = directory ?? "" };
            foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            {
                start.Environment[name] = value;
            }
            var sw = Stopwatch.StartNew();
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} failed ({process.ExitCode}): {await errors}");
            }
            if (i >= warmUp)
            {
                samples.Add(sw.Elapsed.TotalMilliseconds);
            }
            await output;
        }
        return samples;
    }
}
