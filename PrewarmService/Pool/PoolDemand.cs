namespace Executor.Prewarm.Pool;

/// <summary>
/// How many warm containers this host's traffic needs: the recent lease rate times the time a replacement takes to be
/// ready (measured), with headroom, so that runs arriving at a steady rate find a warm container instead of draining
/// the pool and starting cold. Leases are counted over a sliding window; refill times are smoothed.
/// </summary>
public sealed class PoolDemand(TimeProvider time)
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(30);
    private const double Headroom = 1.5;
    private const double Smoothing = 0.2;

    private readonly Queue<DateTimeOffset> _leases = new();
    private readonly Lock _lock = new();
    private double _refillSeconds = 0.5; // a first guess until measured (about 0.3-0.5 s on 2 cores)

    public void Leased()
    {
        lock (_lock)
        {
            _leases.Enqueue(time.GetUtcNow());
            Trim();
        }
    }

    public void Refilled(TimeSpan duration)
    {
        lock (_lock)
        {
            _refillSeconds += Smoothing * (duration.TotalSeconds - _refillSeconds);
        }
    }

    /// <summary>Leases per second over the window.</summary>
    public double LeaseRate
    {
        get
        {
            lock (_lock)
            {
                Trim();
                return _leases.Count / Window.TotalSeconds;
            }
        }
    }

    public double RefillSeconds
    {
        get
        {
            lock (_lock)
            {
                return _refillSeconds;
            }
        }
    }

    /// <summary>Warm containers the recent traffic needs: at least one more than lease rate × refill time, with headroom.</summary>
    public int Needed()
    {
        var rate = LeaseRate;
        return rate == 0 ? 0 : (int)Math.Ceiling(rate * RefillSeconds * Headroom) + 1;
    }

    private void Trim()
    {
        var oldest = time.GetUtcNow() - Window;
        while (_leases.TryPeek(out var at) && at < oldest)
        {
            _leases.Dequeue();
        }
    }
}
