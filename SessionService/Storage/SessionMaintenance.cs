using System.Diagnostics;
using System.Diagnostics.Metrics;
using Executor.Session.Dispatch;
using Executor.Session.Sessions;
using Executor.Session.Telemetry;
using Microsoft.Extensions.Options;

namespace Executor.Session.Storage;

/// <summary>
/// Periodic housekeeping: purges sessions past their retention, and ends sessions that have been running far
/// longer than any run can without a call to the runner in flight here (their runner went silent) as internal_error.
/// Nothing stays "still running" forever.
/// </summary>
public sealed partial class SessionMaintenance(
    SessionStore store,
    Dispatcher dispatcher,
    SessionCompletions completions,
    IOptions<SessionServiceOptions> options,
    TimeProvider time,
    IMeterFactory meterFactory,
    ILogger<SessionMaintenance> logger) : BackgroundService
{
    private readonly Counter<long> _purged = meterFactory.Create("Executor.Session")
        .CreateCounter<long>("executor.sessions.purged", "{session}", "Sessions deleted after their retention");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.Value.MaintenanceIntervalSeconds), time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await RunOnceAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogFailed(e);
            }
        }
    }

    public async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        // Its own trace: housekeeping is not part of any request.
        using var activity = SessionTelemetry.Source.StartActivity("session maintenance", ActivityKind.Internal, parentContext: default);
        var now = time.GetUtcNow();
        var purged = await store.PurgeAsync(now - TimeSpan.FromHours(options.Value.RetentionHours), cancellationToken);
        _purged.Add(purged);
        activity?.SetTag("executor.purged", purged);

        var stuck = await store.ListUnfinishedAsync(cancellationToken, runningSince: now - TimeSpan.FromSeconds(options.Value.StuckAfterSeconds));
        foreach (var (sessionId, _) in stuck.Where(s => !dispatcher.IsInFlight(s.Id)))
        {
            var ended = await store.CompleteAsync(sessionId, new RunResult
            {
                Status = SessionStatus.InternalError,
                Detail = $"The run went silent: no runner reported a result within {options.Value.StuckAfterSeconds} s.",
            }, cancellationToken);
            completions.Completed(sessionId, ended);
            LogEndedStuck(sessionId);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session maintenance failed; retrying at the next interval")]
    private partial void LogFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ended session {SessionId}: it was running with no runner call in flight")]
    private partial void LogEndedStuck(string sessionId);
}
