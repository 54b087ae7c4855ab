using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Executor.Sandbox;

/// <summary>Readiness: this service is useless without a reachable Docker engine, and says why.</summary>
public sealed class DockerHealthCheck(IContainerEngine engine) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(3));
        try
        {
            await engine.PingAsync(timeout.Token);
            return HealthCheckResult.Healthy("Docker engine reachable");
        }
        catch (Exception e)
        {
            return HealthCheckResult.Unhealthy($"Docker engine unreachable: {e.Message}", e);
        }
    }
}
