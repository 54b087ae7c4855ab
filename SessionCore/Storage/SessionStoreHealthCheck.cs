using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Executor.SessionCore.Storage;

/// <summary>Readiness of the embedded store (PostgreSQL's comes with Aspire.Npgsql).</summary>
public sealed class SessionStoreHealthCheck(ISessionStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await store.FindAsync("health", cancellationToken);
            return HealthCheckResult.Healthy(store.Description);
        }
        catch (Exception e)
        {
            return HealthCheckResult.Unhealthy($"{store.Description} failed: {e.Message}", e);
        }
    }
}
