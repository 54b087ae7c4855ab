using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Executor.Session.Storage;

public sealed class SessionStoreHealthCheck(SessionStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await store.FindAsync("health", cancellationToken);
            return HealthCheckResult.Healthy($"SQLite at {store.DatabasePath}");
        }
        catch (Exception e)
        {
            return HealthCheckResult.Unhealthy($"SQLite at {store.DatabasePath} failed: {e.Message}", e);
        }
    }
}
