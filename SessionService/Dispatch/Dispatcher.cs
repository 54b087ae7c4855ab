using System.Diagnostics;
using Executor.Session.Sessions;
using Executor.Session.Telemetry;
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
    EngineStatus engine,
    SessionTelemetry telemetry,
    TimeProvider time,
    IOptions<SessionServiceOptions> options,
    ILogger<Dispatcher> logger) : BackgroundService
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _inFlight = new();

    /// <summary>Whether this process is handing the session to the runner right now.</summary>
    public bool IsInFlight(string sessionId) => _inFlight.ContainsKey(sessionId);

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
        // While the engine is away, sessions wait here rather than fail.
        await engine.WhenAvailableAsync(stoppingToken);
        using (var wait = SessionTelemetry.Source.StartActivity("queue wait", ActivityKind.Internal, queued.Submitted, startTime: queued.EnqueuedAt))
        {
            wait?.SetTag(SessionTelemetry.SessionId, sessionId);
            telemetry.Waited(time.GetUtcNow() - queued.EnqueuedAt);
        }
        using var activity = SessionTelemetry.Source.StartActivity("dispatch session", ActivityKind.Internal, queued.Submitted);
        activity?.SetTag(SessionTelemetry.SessionId, sessionId);
        _inFlight[sessionId] = true;
        try
        {
            // Marked running while the runner already works: a session cleaned up meanwhile is cancelled by the
            // runner too (it remembers cancelled ids), so starting before the mark is written loses nothing.
            var marked = store.MarkRunningAsync(sessionId, stoppingToken);
            var request = queued.Request ?? await store.LoadRunAsync(sessionId, stoppingToken)
                ?? throw new InvalidOperationException($"Session {sessionId} has no files");
            // A session that was running when this service stopped runs at most once: the runner joins the run or
            // returns its result, and if it no longer knows it (it stopped too), the session ends as internal_error.
            request = request with { RecoverOnly = queued.WasRunning };
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
                    Detail = e is HttpRequestException { HttpRequestError: HttpRequestError.ResponseEnded }
                        ? "The runner stopped during the run; the script is not started again."
                        : $"The runner could not be reached: {e.Message}",
                };
            }
            activity?.SetTag(SessionTelemetry.Status, result.Status);
            activity?.SetTag(SessionTelemetry.ExitCode, result.ExitCode);
            activity?.SetTag(SessionTelemetry.Warm, result.WarmStart);
            await marked;
            using (SessionTelemetry.Source.StartActivity("store result"))
            {
                var stored = await store.CompleteAsync(sessionId, result, stoppingToken);
                completions.Completed(sessionId, stored);
                if (stored is not null)
                {
                    telemetry.Ended(result.Status, result.WarmStart, result.DurationMs);
                }
            }
        }
        catch (Exception e) when (!stoppingToken.IsCancellationRequested)
        {
            // One broken session must not stop the others.
            LogDispatchFailed(sessionId, e);
        }
        finally
        {
            _inFlight.TryRemove(sessionId, out _);
        }
    }

    private async Task RecoverAsync(CancellationToken stoppingToken)
    {
        var unfinished = await store.ListUnfinishedAsync(stoppingToken);
        foreach (var (sessionId, status) in unfinished)
        {
            await queue.EnqueueRecoveredAsync(sessionId, wasRunning: status == SessionStatus.Running, time.GetUtcNow(), stoppingToken);
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
