using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Executor.Prewarm.Pool;

/// <summary>Degraded while the pool is below its minimum: executions still work, but start cold.</summary>
public sealed class PoolHealthCheck(WarmPools pools) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        // Health follows the default runtime's pool, which serves most runs; the others are listed.
        var pool = pools.Default;
        var state = string.Join("; ", pools.All.Select(p => $"{p.Language.Id}: {p.Ready} of {p.Target} warm containers ready, {p.Starting} starting"));
        return Task.FromResult(pool.Ready >= Math.Min(pool.MinSize, pool.Target) ? HealthCheckResult.Healthy(state) : HealthCheckResult.Degraded(state));
    }
}
