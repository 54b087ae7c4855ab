namespace Executor.Contracts;

/// <summary>
/// The internal API between a host's RunnerService and its PrewarmService: the runner leases warm containers, holds
/// its lease on the pool for as long as it lives, relays POST /prewarm and reads the pool's state for its heartbeat.
/// </summary>
public static class PoolRoutes
{
    /// <summary>POST: refill every pool, or keep ?count=N ready from now on.</summary>
    public const string Prewarm = "/prewarm";

    /// <summary>GET: the pool's state (<see cref="PoolState"/>).</summary>
    public const string State = "/pool";

    /// <summary>PUT, held open: the runner named by <see cref="RunnerHeader"/> is alive for as long as the body lasts.</summary>
    public const string RunnerLease = "/runner-lease";

    /// <summary>POST ?wait_ms=&amp;runtime=: a ready container for one run (<see cref="LeaseResponse"/>), or 204 when none.</summary>
    public const string Leases = "/leases";

    /// <summary>The header naming the runner process that holds the lease.</summary>
    public const string RunnerHeader = "X-Executor-Runner";
}

/// <summary>A warm container handed to the runner for one run.</summary>
public sealed record LeaseResponse(string ContainerId);

/// <param name="Status">Always "prewarm triggered".</param>
/// <param name="Target">How many containers the pool now keeps ready.</param>
public sealed record PrewarmResponse(string Status, int Target);

/// <summary>A host's warm pools, as its PrewarmService reports them.</summary>
/// <param name="Target">Containers kept ready now: the configured target raised to the recent demand.</param>
/// <param name="LeaseRate">Leases per second over the last 30 s.</param>
/// <param name="RefillSeconds">The smoothed time a new container takes to be ready.</param>
/// <param name="MaxDemand">The most demand raises the target to: what the host holds (Pool:MaxDemandSize).</param>
public sealed record PoolState(
    int Target, int ConfiguredTarget, int Ready, int Starting, int MaxSize, long Hits, long Misses, long Recycled, double LeaseRate, double RefillSeconds,
    int MaxDemand)
{
    /// <summary>The pool's process, for operators (and fault tests) that must find it.</summary>
    public int Pid { get; init; }

    /// <summary>Each runtime's pool.</summary>
    public IReadOnlyDictionary<string, RuntimePoolState> Runtimes { get; init; } = new Dictionary<string, RuntimePoolState>();

    /// <summary>What a runner host reports of its pool in its heartbeat.</summary>
    public PoolStatus ToStatus() => new(Ready, Target, Starting, MaxSize);
}

/// <summary>One runtime's pool.</summary>
public sealed record RuntimePoolState(int Target, int Ready, int Starting, long Hits, long Misses);
