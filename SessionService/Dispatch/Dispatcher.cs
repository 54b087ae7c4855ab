using System.Diagnostics;
using Executor.Session.Sessions;
using Executor.Session.Storage;
using Microsoft.Extensions.Options;

namespace Executor.Session.Dispatch;

/// <summary>
/// Hands queued sessions to RunnerService, at most <see cref="SessionServiceOptions.MaxConcurrentRuns"/> at once, and
/// records each result. After a restart it first re-queues the sessions that had not ended.
/// </summary>
public sealed partial class Dispatcher(
    RunQueue queue,
    SessionStore store,
    RunnerClient runner,
    SessionCompletions completions,
    IOptions<SessionServiceOptions> options,
    ILogger<Dispatcher> logger) : BackgroundService
{
    public static readonly ActivitySource ActivitySource = new("Executor.Session");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await RecoverAsync(stoppingToken);
        await Parallel.ForEachAsync(
            queue.ReadAllAsync(stoppingToken),
            new ParallelOptions { MaxDegreeOfParallelism = options.Value.MaxConcurrentRuns, CancellationToken = stoppingToken },
            DispatchAsync);
    }

    private async ValueTask DispatchAsync(QueuedSession queued, CancellationToken stoppingToken)
    {
        var sessionId = queued.SessionId;
        using var activity = ActivitySource.StartActivity("dispatch session");
        activity?.SetTag("executor.session_id", sessionId);
        try
        {
            // Marked running while the runner already works: a session cleaned up meanwhile is cancelled by the
            // runner too (it remembers cancelled ids), so starting before the mark is written loses nothing.
            var marked = store.MarkRunningAsync(sessionId, stoppingToken);
            var request = queued.Request ?? await store.LoadRunAsync(sessionId, stoppingToken)
                ?? throw new InvalidOperationException($"Session {sessionId} has no files");
            if (queued.Request is null && !await marked)
            {
                return; // recovered after a restart, but it had ended meanwhile
            }
            RunResult result;
            try
            {
                result = await runner.RunAsync(request, stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogRunnerFailed(sessionId, e);
                result = new RunResult
                {
                    Status = SessionStatus.InternalError,
                    Detail = $"The runner could not run the script: {e.Message}",
                };
            }
            activity?.SetTag("executor.status", result.Status);
            await marked;
            completions.Completed(sessionId, await store.CompleteAsync(sessionId, result, stoppingToken));
        }
        catch (Exception e) when (!stoppingToken.IsCancellationRequested)
        {
            // One broken session must not stop the others.
            LogDispatchFailed(sessionId, e);
        }
    }

    private async Task RecoverAsync(CancellationToken stoppingToken)
    {
        var unfinished = await store.ListUnfinishedAsync(stoppingToken);
        foreach (var sessionId in unfinished)
        {
            await queue.EnqueueRecoveredAsync(sessionId, stoppingToken);
        }
        if (unfinished.Count > 0)
        {
            LogRecovered(unfinished.Count);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "The runner failed session {SessionId}")]
    private partial void LogRunnerFailed(string sessionId, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not dispatch session {SessionId}")]
    private partial void LogDispatchFailed(string sessionId, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Re-queued {Count} sessions that had not finished before the restart")]
    private partial void LogRecovered(int count);
}
