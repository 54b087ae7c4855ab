using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Executor.Bench;

/// <summary>
/// What one run of the bench measured, written as bench/results/&lt;mode&gt;.json: every series with its raw samples, the
/// throughput points, the services' memory over the run, single figures as rows, and the machine it ran on. The pictures
/// are drawn from this alone (<see cref="Pictures"/>), so another machine's file redraws the same way.
/// </summary>
public sealed class Report
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        // A ratio of nothing measured is NaN: written as "NaN" rather than failing the whole file.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public string Mode { get; set; } = "";

    public Machine Machine { get; set; } = new();

    /// <summary>Latency (or throughput, in <see cref="Series.Unit"/>) samples, grouped into one picture per group.</summary>
    public List<Series> Series { get; set; } = [];

    public List<ThroughputPoint> Throughput { get; set; } = [];

    /// <summary>The four services' resident memory and the stack's running containers, about every second.</summary>
    public List<MemorySample> Memory { get; set; } = [];

    /// <summary>Where each part of the run began, in seconds from its start (the memory picture marks them).</summary>
    public List<Phase> Phases { get; set; } = [];

    /// <summary>--scale: what the central tier did for each count of replicas and simulated hosts.</summary>
    public List<Scale.ScalePoint> Scale { get; set; } = [];

    /// <summary>Single figures: memory after the run, an idle pool container, ratios, counts.</summary>
    public List<Row> Rows { get; set; } = [];

    /// <summary>Seconds since the run began.</summary>
    [JsonIgnore]
    public double Elapsed => _clock.Elapsed.TotalSeconds;

    public static Report Begin(string mode) => new() { Mode = mode, Machine = Machine.Now() };

    /// <summary>Adds a series and returns its stats, so a figure is recorded where it is measured.</summary>
    public Stats Add(string group, Stats stats, string? host = null, int? poolPeak = null, string unit = "ms")
    {
        lock (Series)
        {
            Series.Add(new Series(group, stats.Name, unit, [.. stats.Samples], host, poolPeak));
        }
        return stats;
    }

    public void Row(string name, double value, string unit)
    {
        lock (Rows)
        {
            Rows.Add(new Row(name, Math.Round(value, 3), unit));
        }
    }

    /// <summary>Marks the start of a part of the run (e.g. "postgres") on the memory picture.</summary>
    public void Mark(string name)
    {
        lock (Phases)
        {
            Phases.Add(new Phase(name, Math.Round(Elapsed, 1)));
        }
    }

    /// <summary>Writes bench/results/&lt;mode&gt;.json and draws its pictures into docs/perf/; returns the JSON's path.</summary>
    public string Save()
    {
        Machine.LoadAverageAfter = File.ReadAllText("/proc/loadavg").Trim();
        Machine.DurationSeconds = Math.Round(Elapsed);
        var path = Path.Combine(Repository.Root, "bench", "results", $"{Mode}.json");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        lock (Memory)
        {
            File.WriteAllText(path, JsonSerializer.Serialize(this, Json));
        }
        Console.WriteLine($"figures: {Path.GetRelativePath(Repository.Root, path)}");
        foreach (var picture in Pictures.Draw(this, Path.Combine(Repository.Root, "docs", "perf")))
        {
            Console.WriteLine($"picture: {Path.GetRelativePath(Repository.Root, picture)}");
        }
        return path;
    }

    /// <summary>One report of several runs' figures (e.g. the full run and the overload of --load): the first's machine, mode and memory.</summary>
    public static Report Merge(IReadOnlyList<Report> reports)
    {
        var merged = reports[0];
        foreach (var more in reports.Skip(1))
        {
            merged.Series.AddRange(more.Series);
            merged.Throughput.AddRange(more.Throughput);
            merged.Rows.AddRange(more.Rows);
            merged.Scale.AddRange(more.Scale);
        }
        return merged;
    }

    public static Report Load(string path) =>
        JsonSerializer.Deserialize<Report>(File.ReadAllText(path), Json) ?? throw new InvalidDataException($"{path} holds no report");
}

public sealed class Machine
{
    public int Cores { get; set; }

    public double MemoryMib { get; set; }

    public string Os { get; set; } = "";

    public string LoadAverageBefore { get; set; } = "";

    public string LoadAverageAfter { get; set; } = "";

    /// <summary>When the run began (UTC, ISO 8601).</summary>
    public string Date { get; set; } = "";

    public double DurationSeconds { get; set; }

    /// <summary>The commit measured, with "-dirty" when the work tree had changes.</summary>
    public string Commit { get; set; } = "";

    public static Machine Now() => new()
    {
        Cores = Environment.ProcessorCount,
        MemoryMib = Math.Round(MachineMemoryMib()),
        Os = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
        LoadAverageBefore = File.ReadAllText("/proc/loadavg").Trim(),
        Date = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
        Commit = Repository.Commit(),
    };

    /// <summary>One line for a picture's caption.</summary>
    public string Caption() =>
        $"{Cores} cores, {MemoryMib / 1024:0.#} GiB, {Os}, {Date[..10]}, commit {Commit}, load average {LoadAverageBefore.Split(' ')[0]} → {LoadAverageAfter.Split(' ').FirstOrDefault()}";

    /// <summary>MemTotal of /proc/meminfo: what the machine has, not what the bench's own process may use.</summary>
    public static double MachineMemoryMib()
    {
        var line = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
        return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
    }
}

/// <summary>
/// A measured series. <paramref name="Host"/>: the name of the host python series measured interleaved with it (the
/// ratio's denominator); <paramref name="PoolPeak"/>: the most running containers the stack held meanwhile.
/// </summary>
public sealed record Series(string Group, string Name, string Unit, double[] Samples, string? Host = null, int? PoolPeak = null)
{
    public Stats Stats() => new(Name, Samples);
}

/// <summary>Runs a second at one concurrency: Executor's, and the engine's own single-use ceiling (create, start, wait, remove).</summary>
public sealed record ThroughputPoint(string Mode, int Concurrency, double ExecutorRunsPerSecond, double? EngineRunsPerSecond);

public sealed record MemorySample(double Seconds, Dictionary<string, double> ServicesMib, int Containers);

public sealed record Phase(string Name, double Seconds);

public sealed record Row(string Name, double Value, string Unit);

/// <summary>The repository the bench runs from (bench/run.sh runs it from the root): where its results and pictures go.</summary>
public static class Repository
{
    public static string Root { get; } = Directory.GetCurrentDirectory();

    public static string Commit()
    {
        try
        {
            var head = Git("rev-parse --short HEAD");
            return Git("status --porcelain --untracked-files=no").Length > 0 ? head + "-dirty" : head;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown"; // no git on this machine
        }
    }

    private static string Git(string arguments)
    {
        using var git = Process.Start(new ProcessStartInfo("git", arguments) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Root })!;
        var output = git.StandardOutput.ReadToEnd().Trim();
        git.WaitForExit();
        return git.ExitCode == 0 ? output : "unknown";
    }
}
