namespace Executor.Bench;

/// <summary>Latency samples in milliseconds.</summary>
public sealed class Stats(string name, IReadOnlyList<double> samples)
{
    public string Name { get; } = name;

    public IReadOnlyList<double> Samples => samples;

    public int Count => samples.Count;

    public double Median => Percentile(0.5);

    public double P90 => Percentile(0.90);

    public double P95 => Percentile(0.95);

    public double Min => samples.Count == 0 ? double.NaN : samples.Min();

    public double Max => samples.Count == 0 ? double.NaN : samples.Max();

    /// <summary>The p-quantile (0 to 1), interpolated between the two nearest samples.</summary>
    public double Percentile(double p)
    {
        if (samples.Count == 0)
        {
            return double.NaN;
        }
        var sorted = samples.Order().ToArray();
        var rank = p * (sorted.Length - 1);
        var low = (int)Math.Floor(rank);
        var high = (int)Math.Ceiling(rank);
        return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
    }
}
