using System.ComponentModel.DataAnnotations;

namespace Executor.Prewarm.Pool;

public sealed class PoolOptions
{
    public const string Section = "Pool";

    /// <summary>How many started containers to keep waiting for a script.</summary>
    [Range(0, 256)]
    public int TargetSize { get; set; } = 2;

    /// <summary>Containers started at once while refilling: each start costs the engine ~200 ms of CPU.</summary>
    [Range(1, 16)]
    public int RefillConcurrency { get; set; } = 1;

    /// <summary>How often the pool checks itself even when nothing asked it to.</summary>
    [Range(1, 3600)]
    public int CheckIntervalSeconds { get; set; } = 5;
}
