using System.Globalization;
using ScottPlot;
using ScottPlot.TickGenerators;

namespace Executor.Bench;

/// <summary>
/// Draws a <see cref="Report"/> as PNG files: a latency distribution per group of series (a box of the middle half,
/// whiskers to p5 and p95, every sample as a dot), throughput against concurrency beside the engine's ceiling, and the
/// services' memory with the running containers over the run. Nothing here measures: a saved JSON redraws the same.
/// </summary>
public static class Pictures
{
    private const int Width = 1400;

    private static readonly ScottPlot.Palettes.Category10 Palette = new();

    /// <summary>The palette's colours less its gray, which marks the host's baselines.</summary>
    private static readonly int[] Colorful = [0, 1, 2, 3, 4, 5, 6, 8, 9];

    /// <summary>Draws every picture the report has data for into <paramref name="directory"/>; returns their paths.</summary>
    public static IReadOnlyList<string> Draw(Report report, string directory)
    {
        Directory.CreateDirectory(directory);
        var drawn = new List<string>();
        foreach (var group in report.Series.Where(s => s.Unit == "ms").GroupBy(s => s.Group))
        {
            drawn.Add(Latency(report, group.Key, [.. group], Path.Combine(directory, $"{report.Mode}-latency-{group.Key}.png")));
        }
        if (report.Throughput.Count > 0)
        {
            drawn.Add(Throughput(report, Path.Combine(directory, $"{report.Mode}-throughput.png")));
        }
        if (report.Scale.Count > 0)
        {
            drawn.Add(ScaleLines(report, "Sessions a second end to end at saturation (32 clients back to back)", "sessions / s",
                p => p.SessionsPerSecond, null, Path.Combine(directory, $"{report.Mode}-throughput.png")));
            drawn.Add(ScaleLines(report, "Submitted to claimed at a steady 20 sessions/s with sandbox calls beside (p50 solid, p99 dashed)", "ms",
                p => p.ClaimP50Ms, p => p.ClaimP99Ms, Path.Combine(directory, $"{report.Mode}-claim-latency.png")));
            drawn.Add(ScaleLines(report, "What idle hosts cost: PostgreSQL transactions a second with no work (heartbeats, waiting claims)", "transactions / s",
                p => p.IdleTransactionsPerSecond, null, Path.Combine(directory, $"{report.Mode}-idle-cost.png")));
        }
        if (report.Memory.Count > 1)
        {
            drawn.Add(Memory(report, Path.Combine(directory, $"{report.Mode}-memory.png")));
        }
        return drawn;
    }

    private static string Latency(Report report, string group, IReadOnlyList<Series> measured, string path)
    {
        var plot = NewPlot();
        // Each series with the host series measured interleaved with it just below it.
        var hosts = measured.Where(s => s.Host is not null).Select(s => s.Host!).ToHashSet();
        var series = measured.Where(s => !hosts.Contains(s.Name))
            .SelectMany(s => s.Host is null ? [s] : new[] { s }.Concat(measured.Where(h => h.Name == s.Host)))
            .ToList();
        var colorIndex = 0;
        var all = series.SelectMany(s => s.Samples).Where(v => v > 0).ToArray();
        // A log axis when the series span more than a decade (hello world beside docker run), else a linear one.
        var log = all.Length > 0 && all.Max() / all.Min() > 10;
        double X(double ms) => log ? Math.Log10(Math.Max(ms, 0.1)) : ms;
        var labels = new NumericManual();
        for (var i = 0; i < series.Count; i++)
        {
            // The first series at the top: rows are drawn from the top down.
            var y = series.Count - 1 - i;
            var stats = series[i].Stats();
            var color = series[i].Name.StartsWith("host", StringComparison.Ordinal) ? Colors.Gray : Palette.GetColor(Colorful[colorIndex++ % Colorful.Length]);
            var p5 = stats.Percentile(0.05);
            var p25 = stats.Percentile(0.25);
            var p75 = stats.Percentile(0.75);
            var whisker = plot.Add.Line(X(p5), y, X(stats.P95), y);
            whisker.Color = color;
            whisker.LineWidth = 1.5f;
            var box = plot.Add.Rectangle(X(p25), X(p75), y - 0.3, y + 0.3);
            box.FillStyle.Color = color.WithAlpha(0.25);
            box.LineStyle.Color = color;
            box.LineStyle.Width = 1.5f;
            var median = plot.Add.Line(X(stats.Median), y - 0.3, X(stats.Median), y + 0.3);
            median.Color = color;
            median.LineWidth = 3;
            // Every sample, jittered vertically so that equal values stay visible.
            var random = new Random(i);
            var dots = plot.Add.ScatterPoints(
                series[i].Samples.Select(X).ToArray(),
                series[i].Samples.Select(_ => y + (random.NextDouble() - 0.5) * 0.4).ToArray());
            dots.Color = color.WithAlpha(0.55);
            dots.MarkerSize = 4;
            var text = plot.Add.Text(string.Create(CultureInfo.InvariantCulture, $"{stats.Median:0.0} ms"), X(stats.Median), y + 0.32);
            text.LabelFontSize = 11;
            text.LabelFontColor = color.Darken(0.3);
            text.LabelAlignment = Alignment.LowerCenter;
            labels.AddMajor(y, hosts.Contains(series[i].Name) ? "host python3 -c 'print(1)', interleaved with the above" : Label(series[i]));
        }
        plot.Axes.Left.TickGenerator = labels;
        plot.Axes.Left.MajorTickStyle.Length = 0;
        plot.Axes.SetLimitsY(-0.7, series.Count - 0.2);
        if (log)
        {
            var ticks = new NumericManual();
            foreach (var decade in new[] { 1.0, 10, 100, 1000, 10000 })
            {
                foreach (var step in new[] { 1, 2, 5 })
                {
                    var ms = decade * step;
                    if (ms >= all.Min() / 2 && ms <= all.Max() * 2)
                    {
                        ticks.AddMajor(Math.Log10(ms), ms.ToString("0", CultureInfo.InvariantCulture));
                    }
                }
            }
            plot.Axes.Bottom.TickGenerator = ticks;
        }
        return Save(plot, report, Title(group), (log ? "milliseconds (log scale)" : "milliseconds") + "; box p25–p75, whiskers p5–p95, median labelled, every run a dot",
            null, path, Math.Max(360, 110 + 52 * series.Count));
    }

    private static string Throughput(Report report, string path)
    {
        var plot = NewPlot();
        var index = 0;
        foreach (var mode in report.Throughput.Where(p => p.Mode != "overload").GroupBy(p => p.Mode))
        {
            var points = mode.OrderBy(p => p.Concurrency).ToArray();
            var executor = plot.Add.Scatter(points.Select(p => Math.Log2(p.Concurrency)).ToArray(), points.Select(p => p.ExecutorRunsPerSecond).ToArray());
            executor.LegendText = $"Executor, quotas lifted ({mode.Key})";
            executor.Color = Palette.GetColor(index++);
            executor.LineWidth = 2;
            executor.MarkerSize = 8;
            var engine = points.Where(p => p.EngineRunsPerSecond is not null).ToArray();
            if (engine.Length > 0)
            {
                var raw = plot.Add.Scatter(engine.Select(p => Math.Log2(p.Concurrency)).ToArray(), engine.Select(p => p.EngineRunsPerSecond!.Value).ToArray());
                raw.LegendText = "the engine's single-use ceiling: create, start, wait, remove";
                raw.Color = Colors.Gray;
                raw.LinePattern = LinePattern.Dashed;
                raw.LineWidth = 2;
                raw.MarkerSize = 8;
            }
        }
        foreach (var overload in report.Throughput.Where(p => p.Mode == "overload"))
        {
            var marker = plot.Add.Marker(Math.Log2(overload.Concurrency), overload.ExecutorRunsPerSecond, MarkerShape.FilledDiamond, 12);
            marker.Color = Colors.Red;
            marker.LegendText = "overload: 1,000 submissions at concurrency 50, all ended";
        }
        var ticks = new NumericManual();
        foreach (var c in report.Throughput.Select(p => p.Concurrency).Distinct().Order())
        {
            ticks.AddMajor(Math.Log2(c), c.ToString(CultureInfo.InvariantCulture));
        }
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.SetLimitsY(0, report.Throughput.Max(p => Math.Max(p.ExecutorRunsPerSecond, p.EngineRunsPerSecond ?? 0)) * 1.15);
        plot.ShowLegend(Alignment.UpperLeft);
        return Save(plot, report, "Hello world runs a second against concurrency", "concurrent clients (log scale)", "runs / s", path, 620);
    }

    /// <summary>One line per replica count against the number of simulated hosts; a second, dashed, when <paramref name="second"/> is given.</summary>
    private static string ScaleLines(Report report, string title, string y, Func<Scale.ScalePoint, double> first, Func<Scale.ScalePoint, double>? second, string path)
    {
        var plot = NewPlot();
        var index = 0;
        foreach (var replicas in report.Scale.GroupBy(p => p.Replicas).OrderBy(g => g.Key))
        {
            var points = replicas.OrderBy(p => p.Hosts).ToArray();
            var color = Palette.GetColor(index++);
            var label = replicas.Key == 1 ? "1 replica" : $"{replicas.Key} replicas";
            var line = plot.Add.Scatter(points.Select(p => Math.Log10(p.Hosts)).ToArray(), points.Select(first).ToArray());
            line.LegendText = second is null ? label : $"{label}, p50";
            line.Color = color;
            line.LineWidth = 2;
            line.MarkerSize = 8;
            if (second is not null)
            {
                var tail = plot.Add.Scatter(points.Select(p => Math.Log10(p.Hosts)).ToArray(), points.Select(second).ToArray());
                tail.LegendText = $"{label}, p99";
                tail.Color = color;
                tail.LinePattern = LinePattern.Dashed;
                tail.LineWidth = 2;
                tail.MarkerSize = 6;
            }
        }
        var ticks = new NumericManual();
        foreach (var hosts in report.Scale.Select(p => p.Hosts).Distinct().Order())
        {
            ticks.AddMajor(Math.Log10(hosts), hosts.ToString(CultureInfo.InvariantCulture));
        }
        plot.Axes.Bottom.TickGenerator = ticks;
        var top = report.Scale.Max(p => Math.Max(first(p), second?.Invoke(p) ?? 0));
        plot.Axes.SetLimitsY(0, double.IsNaN(top) || top <= 0 ? 1 : top * 1.15);
        plot.ShowLegend(Alignment.UpperLeft);
        return Save(plot, report, title, "simulated runner hosts (log scale)", y, path, 560);
    }

    private static string Memory(Report report, string path)
    {
        var plot = NewPlot();
        var samples = report.Memory.ToArray();
        var seconds = samples.Select(s => s.Seconds).ToArray();
        var services = samples.SelectMany(s => s.ServicesMib.Keys).Distinct().ToArray();
        for (var i = 0; i < services.Length; i++)
        {
            var line = plot.Add.Scatter(seconds, samples.Select(s => s.ServicesMib.GetValueOrDefault(services[i])).ToArray());
            line.LegendText = $"{services[i]} (MiB)";
            line.Color = Palette.GetColor(i);
            line.MarkerSize = 0;
            line.LineWidth = 2;
        }
        var total = plot.Add.Scatter(seconds, samples.Select(s => s.ServicesMib.Values.Sum()).ToArray());
        total.LegendText = "all four (MiB)";
        total.Color = Colors.Black;
        total.MarkerSize = 0;
        total.LineWidth = 2.5f;
        var containers = plot.Add.Scatter(seconds, samples.Select(s => (double)s.Containers).ToArray());
        containers.LegendText = "running containers of the stack (right axis)";
        containers.Color = Colors.Gray;
        containers.LinePattern = LinePattern.Dotted;
        containers.MarkerSize = 0;
        containers.LineWidth = 1.5f;
        containers.Axes.YAxis = plot.Axes.Right;
        var top = samples.Max(s => s.ServicesMib.Values.Sum()) * 1.1;
        for (var i = 0; i < report.Phases.Count; i++)
        {
            var mark = plot.Add.VerticalLine(report.Phases[i].Seconds);
            mark.Color = Colors.Gray.WithAlpha(0.4);
            mark.LineWidth = 1;
            // Staggered, so that the names of short phases do not overlap.
            var name = plot.Add.Text(report.Phases[i].Name, report.Phases[i].Seconds, top * (1 - 0.035 * (i % 4)));
            name.LabelFontSize = 10;
            name.LabelFontColor = Colors.DimGray;
            name.LabelAlignment = Alignment.UpperLeft;
        }
        plot.Axes.SetLimitsY(0, top * 1.02);
        plot.Axes.SetLimitsY(0, Math.Max(10, samples.Max(s => s.Containers) * 1.2), plot.Axes.Right);
        plot.Axes.Right.Label.Text = "running containers";
        plot.ShowLegend(Edge.Bottom);
        return Save(plot, report, "The services' resident memory and the stack's running containers over the run",
            "seconds since the run began", "resident memory, MiB", path, 720);
    }

    private static string Label(Series series)
    {
        var label = series.PoolPeak is { } peak ? $"{series.Name} · pool peak {peak}" : series.Name;
        return label.Length > 90 ? label[..87] + "..." : label;
    }

    private static string Title(string group) => group switch
    {
        "warm" => "Warm hello world under traffic, each beside the host's python3 measured interleaved",
        "cold" => "Hello world without a warm container",
        _ => char.ToUpperInvariant(group[0]) + group[1..],
    };

    private static Plot NewPlot()
    {
        var plot = new Plot();
        plot.Font.Set("DejaVu Sans");
        return plot;
    }

    /// <summary>Titles the picture, captions it with the run's machine, and writes it.</summary>
    private static string Save(Plot plot, Report report, string title, string x, string? y, string path, int height)
    {
        plot.Title(title);
        plot.XLabel($"{x}\n{report.Mode} run: {report.Machine.Caption()}");
        plot.Axes.Bottom.Label.FontSize = 13;
        plot.Axes.Bottom.Label.Bold = false;
        if (y is not null)
        {
            plot.YLabel(y);
        }
        plot.SavePng(path, Width, height);
        return path;
    }
}
