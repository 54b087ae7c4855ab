using System.ComponentModel.DataAnnotations;

namespace Executor.Prewarm.Pool;

public sealed class PoolOptions
{
    public const string Section = "Pool";

    /// <summary>How many started containers to keep waiting for a script. POST /prewarm?count=N changes it.</summary>
    [Range(0, 1024)]
    public int TargetSize { get; set; } = 2;

    /// <summary>Below this many ready containers the pool reports itself Degraded.</summary>
    [Range(0, 1024)]
    public int MinSize { get; set; } = 1;

    /// <summary>The most POST /prewarm may ask for.</summary>
    [Range(0, 1024)]
    public int MaxSize { get; set; } = 64;

    /// <summary>
    /// The most warm containers demand may raise a runtime's pool to; 0: what the host holds (two per core, and within
    /// half the memory at the runtime's memory limit each; see HostCapacity). Starting more than that only takes the
    /// cores from the runs, which slows the refills, which raised the demand: a pool that feeds on itself.
    /// </summary>
    [Range(0, 1024)]
    public int MaxDemandSize { get; set; }

    /// <summary>Containers started at once while refilling: each start costs the engine ~200 ms of CPU.</summary>
    [Range(1, 16)]
    public int RefillConcurrency { get; set; } = 2;

    /// <summary>
    /// How long leases must pause before the refill starts (at most a second after the first): the runs of a burst
    /// should not compete with the start of their replacements (~150 ms of engine CPU each). Short, so that at a steady
    /// rate a replacement starts as soon as the run it replaces has ended and is ready before the next run comes (at
    /// 3 runs/s: a run every 333 ms, ~25 ms of run, ~200 ms to create, start and boot its replacement).
    /// </summary>
    [Range(0, 10_000)]
    public int RefillDelayMs { get; set; } = 25;

    /// <summary>A container waiting longer than this is replaced by a fresh one.</summary>
    [Range(1, 24 * 60)]
    public int MaxAgeMinutes { get; set; } = 30;

    /// <summary>How long a new container may take to boot its launcher before it is given up.</summary>
    [Range(1, 600)]
    public int BootTimeoutSeconds { get; set; } = 30;

    /// <summary>The longest a lease may wait for a container when the pool is empty.</summary>
    [Range(0, 60_000)]
    public int MaxLeaseWaitMs { get; set; } = 10_000;

    /// <summary>How often the pool checks itself (fill, recycle) even when nothing asked it to.</summary>
    [Range(1, 3600)]
    public int CheckIntervalSeconds { get; set; } = 5;

    /// <summary>
    /// How long after this host's runner released its liveness lease (its connection closed: the process ended) its
    /// containers are taken for a dead runner's and removed, unless a runner holds the lease again by then.
    /// </summary>
    [Range(1, 600)]
    public int RunnerLeaseSeconds { get; set; } = 3;
}
