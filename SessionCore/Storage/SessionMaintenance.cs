using Executor.Contracts;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Executor.SessionCore.Dispatch;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Telemetry;
using Microsoft.Extensions.Options;

namespace Executor.SessionCore.Storage;

/// <summary>
/// Periodic housekeeping, on every replica (each change is conditional, so replicas doing it at once do it once):
/// runner hosts silent too long are marked dead and their runs ended (every couple of seconds), and sessions past
/// their retention are purged with their files; stateful sandboxes idle past their timeout or past their lifetime end
/// (at the same couple of seconds). Nothing stays "still running" forever.
/// </summary>
public sealed partial class SessionMaintenance(
    ISessionStore store,
    RunnerHosts hosts,
    Sandboxes.SandboxLedger sandboxes,
    Sandboxes.ISandboxStore sandboxStore,
    IOptions<SessionServiceOptions> options,
    TimeProvider time,
    IMeterFactory meterFactory,
    ILogger<SessionMaintenance> logger) : BackgroundService
{
    private static readonly TimeSpan HostSweepInterval = TimeSpan.FromSeconds(2);

    private readonly Counter<long> _purged = meterFactory.Create(TelemetryNames.Session)
        .CreateCounter<long>("executor.sessions.purged", "{session}", "Sessions deleted after their retention");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(HostSweepInterval, time);
        var lastPurge = time.GetUtcNow();
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await hosts.SweepDeadAsync(stoppingToken);
                await sandboxes.SweepAsync(time.GetUtcNow(), stoppingToken);
                if (time.GetUtcNow() - lastPurge >= TimeSpan.FromSeconds(options.Value.MaintenanceIntervalSeconds))
                {
                    lastPurge = time.GetUtcNow();
                    await PurgeAsync(stoppingToken);
                }
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogFailed(e.Message);
            }
        }
    }

    /// <summary>Deletes the sessions that ended longer ago than the retention.</summary>
    public async Task PurgeAsync(CancellationToken cancellationToken)
    {
        // Its own trace: housekeeping is not part of any request.
        using var activity = SessionTelemetry.Source.StartActivity("session maintenance", ActivityKind.Internal, parentContext: default);
        var before = time.GetUtcNow() - TimeSpan.FromHours(options.Value.RetentionHours);
        var purged = await store.PurgeAsync(before, cancellationToken);
        await sandboxStore.PurgeSandboxesAsync(before, cancellationToken);
        _purged.Add(purged);
        activity?.SetTag("executor.purged", purged);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session maintenance failed ({Reason}); retrying at the next interval")]
    private partial void LogFailed(string reason);
}
