using Executor.Contracts;
using System.Diagnostics.Metrics;

namespace Executor.Prewarm.Pool;

/// <summary>The pool's instruments, exported through OpenTelemetry (meter "Executor.Prewarm").</summary>
public sealed class PoolMetrics
{
    public const string MeterName = TelemetryNames.Prewarm;

    private readonly Counter<long> _hits;
    private readonly Counter<long> _misses;
    private readonly Counter<long> _recycled;
    private readonly Histogram<double> _refillDuration;

    public PoolMetrics(IMeterFactory meterFactory)
    {
        Meter = meterFactory.Create(MeterName);
        _hits = Meter.CreateCounter<long>("executor.pool.hits", "{lease}", "Leases served by a ready container");
        _misses = Meter.CreateCounter<long>("executor.pool.misses", "{lease}", "Leases that found the pool empty");
        _recycled = Meter.CreateCounter<long>("executor.pool.recycled", "{container}", "Containers replaced for being too old");
        _refillDuration = Meter.CreateHistogram<double>("executor.pool.refill.duration", "s", "Time to create and start one pool container");
    }

    public Meter Meter { get; }

    public void Hit(string runtime) => _hits.Add(1, new KeyValuePair<string, object?>("executor.runtime", runtime));

    public void Miss(string runtime) => _misses.Add(1, new KeyValuePair<string, object?>("executor.runtime", runtime));

    public void Recycle(string runtime) => _recycled.Add(1, new KeyValuePair<string, object?>("executor.runtime", runtime));

    public void Refilled(string runtime, TimeSpan duration) =>
        _refillDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("executor.runtime", runtime));
}

/// <summary>One pool's lease and recycle counts, for GET /pool.</summary>
public sealed class PoolCounts
{
    private long _hits;
    private long _misses;
    private long _recycled;

    public long Hits => Interlocked.Read(ref _hits);

    public long Misses => Interlocked.Read(ref _misses);

    public long Recycled => Interlocked.Read(ref _recycled);

    internal void Hit() => Interlocked.Increment(ref _hits);

    internal void Miss() => Interlocked.Increment(ref _misses);

    internal void Recycle() => Interlocked.Increment(ref _recycled);
}
