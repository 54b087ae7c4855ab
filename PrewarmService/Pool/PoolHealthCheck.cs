using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Executor.Prewarm.Pool;

/// <summary>Degraded while the pool is below its minimum: executions still work, but start cold.</summary>
public sealed class PoolHealthCheck(WarmPool pool) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var state = $"{pool.Ready} of {pool.Target} warm containers ready, {pool.Starting} starting";
        return Task.FromResult(pool.Ready >= Math.Min(pool.MinSize, pool.Target) ? HealthCheckResult.Healthy(state) : HealthCheckResult.Degraded(state));
    }
}
