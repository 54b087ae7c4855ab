using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Threading.Channels;
using Executor.Sandbox;
using Microsoft.Extensions.Options;

namespace Executor.Prewarm.Pool;

/// <summary>
/// Started, single-use sandbox containers whose launcher has booted and waits for a script. A lease hands one
/// over for good: the runner removes it after its one run. The pool never gets a container back.
/// </summary>
public sealed partial class WarmPool(
    IContainerEngine engine,
    SandboxInstance instance,
    IOptions<SandboxOptions> sandboxOptions,
    IOptions<PoolOptions> poolOptions,
    TimeProvider time,
    IMeterFactory meterFactory,
    ILogger<WarmPool> logger)
{
    private readonly ConcurrentQueue<string> _ready = new();
    private readonly Channel<bool> _refillRequests = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly Counters _counters = new(meterFactory);
    private int _starting;

    public int Ready => _ready.Count;

    public int Starting => Volatile.Read(ref _starting);

    public int Target => poolOptions.Value.TargetSize;

    public long Hits => _counters.HitCount;

    public long Misses => _counters.MissCount;

    internal ChannelReader<bool> RefillRequests => _refillRequests.Reader;

    /// <summary>Takes a ready container for a session, or null when none is ready (the caller starts a cold one).</summary>
    public string? TryLease(string sessionId)
    {
        if (!_ready.TryDequeue(out var containerId))
        {
            _counters.Miss();
            RequestRefill();
            return null;
        }
        _counters.Hit();
        RequestRefill();
        // The new name marks it as no longer the pool's, so a restarted pool never sweeps it up mid-run.
        _ = RenameAsync(containerId, $"{SandboxLabels.RunNamePrefix}{sessionId}-{Suffix()}");
        return containerId;
    }

    /// <summary>Asks the background filler to top the pool up; returns at once.</summary>
    public void RequestRefill() => _refillRequests.Writer.TryWrite(true);

    /// <summary>Starts containers until ready + starting reaches the target, at most <see cref="PoolOptions.RefillConcurrency"/> at a time.</summary>
    internal async Task FillAsync(CancellationToken cancellationToken)
    {
        var options = poolOptions.Value;
        var missing = options.TargetSize - Ready - Starting;
        if (missing <= 0)
        {
            return;
        }
        await Parallel.ForAsync(0, missing, new ParallelOptions
        {
            MaxDegreeOfParallelism = options.RefillConcurrency,
            CancellationToken = cancellationToken,
        }, async (_, ct) =>
        {
            if (Ready + Starting >= options.TargetSize)
            {
                return;
            }
            Interlocked.Increment(ref _starting);
            var started = time.GetTimestamp();
            try
            {
                var spec = SandboxSpec.Create(sandboxOptions.Value, SandboxLimits.Defaults(sandboxOptions.Value), instance, SandboxLabels.PoolRole, time,
                    name: SandboxLabels.PoolNamePrefix + Suffix());
                _ready.Enqueue(await engine.StartAsync(spec, ct));
                _counters.Refilled(time.GetElapsedTime(started));
            }
            finally
            {
                Interlocked.Decrement(ref _starting);
            }
        });
    }

    /// <summary>Removes every container still waiting in the pool (shutdown).</summary>
    internal async Task DrainAsync(CancellationToken cancellationToken)
    {
        while (_ready.TryDequeue(out var containerId))
        {
            await engine.RemoveAsync(containerId, cancellationToken);
        }
    }

    private async Task RenameAsync(string containerId, string name)
    {
        try
        {
            await engine.RenameAsync(containerId, name, CancellationToken.None);
        }
        catch (Exception e)
        {
            LogRenameFailed(containerId, e.Message);
        }
    }

    private static string Suffix() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

    [LoggerMessage(Level = LogLevel.Debug, Message = "Could not rename leased container {ContainerId}: {Reason}")]
    private partial void LogRenameFailed(string containerId, string reason);

    private sealed class Counters
    {
        private readonly Counter<long> _hits;
        private readonly Counter<long> _misses;
        private readonly Histogram<double> _refillDuration;
        private long _hitCount;
        private long _missCount;

        public Counters(IMeterFactory meterFactory)
        {
            var meter = meterFactory.Create("Executor.Prewarm");
            _hits = meter.CreateCounter<long>("executor.pool.hits", "{lease}", "Leases served from the warm pool");
            _misses = meter.CreateCounter<long>("executor.pool.misses", "{lease}", "Leases asked for when the pool was empty");
            _refillDuration = meter.CreateHistogram<double>("executor.pool.refill.duration", "s", "Time to start one pool container");
        }

        public long HitCount => Interlocked.Read(ref _hitCount);

        public long MissCount => Interlocked.Read(ref _missCount);

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

        public void Refilled(TimeSpan duration) => _refillDuration.Record(duration.TotalSeconds);
    }
}
