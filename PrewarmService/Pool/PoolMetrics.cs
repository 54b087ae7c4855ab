using System.Diagnostics.Metrics;

namespace Executor.Prewarm.Pool;

/// <summary>The pool's instruments, exported through OpenTelemetry (meter "Executor.Prewarm").</summary>
public sealed class PoolMetrics
{
    public const string MeterName = "Executor.Prewarm";

    private readonly Counter<long> _hits;
    private readonly Counter<long> _misses;
    private readonly Counter<long> _recycled;
    private readonly Histogram<double> _refillDuration;
    private long _hitCount;
    private long _missCount;
    private long _recycledCount;

    public PoolMetrics(IMeterFactory meterFactory)
    {
        Meter = meterFactory.Create(MeterName);
        _hits = Meter.CreateCounter<long>("executor.pool.hits", "{lease}", "Leases served by a ready container");
        _misses = Meter.CreateCounter<long>("executor.pool.misses", "{lease}", "Leases that found the pool empty");
        _recycled = Meter.CreateCounter<long>("executor.pool.recycled", "{container}", "Containers replaced for being too old");
        _refillDuration = Meter.CreateHistogram<double>("executor.pool.refill.duration", "s", "Time to create and start one pool container");
    }

    public Meter Meter { get; }

    public long Hits => Interlocked.Read(ref _hitCount);

    public long Misses => Interlocked.Read(ref _missCount);

    public long Recycled => Interlocked.Read(ref _recycledCount);

    public void Hit()
    {
        Interlocked.Increment(ref _hitCount);
        _hits.Add(1);
    }

    public void Miss()
    {
        Interlocked.Increment(ref _missCount);
        _misses.Add(1);
    }

    public void Recycle()
    {
        Interlocked.Increment(ref _recycledCount);
        _recycled.Add(1);
    }

    public void Refilled(TimeSpan duration) => _refillDuration.Record(duration.TotalSeconds);
}
