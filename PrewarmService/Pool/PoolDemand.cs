namespace Executor.Prewarm.Pool;

/// <summary>
/// How many warm containers this host's traffic needs: the lease rate times the time a replacement takes to be ready
/// (measured), with headroom, so that runs arriving at a steady rate find a warm container instead of draining the
/// pool and starting cold. The rate follows traffic within a few leases (a smoothed interval between leases) and falls
/// as soon as leases stop coming (no demand 10 s after the last lease); refill times are smoothed too. Never more than
/// <paramref name="ceiling"/>, what the host holds: refills slow down as the pool grows, which would raise the demand again.
/// </summary>
public sealed class PoolDemand(TimeProvider time, int ceiling)
{
    private const double Headroom = 1.5;
    private const double Smoothing = 0.3;

    private readonly Lock _lock = new();
    private double _refillSeconds = 0.5; // a first guess until measured (about 0.3-0.5 s on 2 cores)
    private double _intervalSeconds; // smoothed time between leases; 0 until two have been seen
    private long _lastLease;

    public void Leased()
    {
        lock (_lock)
        {
            if (_lastLease != 0)
            {
                var interval = time.GetElapsedTime(_lastLease).TotalSeconds;
                _intervalSeconds = _intervalSeconds == 0 ? interval : _intervalSeconds + Smoothing * (interval - _intervalSeconds);
            }
            _lastLease = time.GetTimestamp();
        }
    }

    public void Refilled(TimeSpan duration)
    {
        lock (_lock)
        {
            _refillSeconds += Smoothing * (duration.TotalSeconds - _refillSeconds);
        }
    }

    /// <summary>Leases per second: the inverse of the smoothed interval, or of the time since the last lease once that is longer.</summary>
    public double LeaseRate
    {
        get
        {
            lock (_lock)
            {
                if (_intervalSeconds == 0)
                {
                    return 0;
                }
                return 1 / Math.Max(_intervalSeconds, time.GetElapsedTime(_lastLease).TotalSeconds);
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

    /// <summary>The most demand asks for.</summary>
    public int Ceiling => ceiling;

    /// <summary>Warm containers the recent traffic needs: one more than lease rate × refill time × headroom, rounded up, at most the ceiling.</summary>
    public int Needed()
    {
        var rate = LeaseRate;
        return rate < 0.1 ? 0 : (int)Math.Min(Math.Ceiling(rate * RefillSeconds * Headroom) + 1, ceiling);
    }
}
