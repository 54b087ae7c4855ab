using Executor.Session.Dispatch;
using Executor.Session.OpenApi;
using Executor.Session.Sessions;
using Executor.Session.Storage;
using Executor.Session.Uploads;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Executor.Session.Apis;

/// <summary>The public API of sessions: submit a script, read its result, clean it up.</summary>
public static class SessionsApi
{
    private const int RetryAfterSeconds = 2;

    public static IEndpointRouteBuilder MapSessionsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("").WithTags("Sessions");

        api.MapPost("/execute", ExecuteAsync)
            .WithName(ExecuteFormTransformer.EndpointName)
            .WithSummary("Submits a Python script to run in a fresh sandbox")
            .WithDescription("multipart/form-data with the script (a UTF-8 .py file) in the field 'file' — or several 'file' fields, or a .zip, which become the working directory — and optional 'entrypoint', 'stdin', 'args', 'timeout_seconds' and 'memory_mb'. Answers at once with the session id; read the outcome from GET /result/{session_id}.")
            .Produces<ExecuteResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .DisableAntiforgery();

        api.MapGet("/result/{session_id}", GetResultAsync)
            .WithName("GetResult")
            .WithSummary("Reads a session's result")
            .WithDescription("202 with {\"status\": \"still running\"} while the session is queued or running; 200 with the result once it has ended.");

        api.MapPost("/cleanup/{session_id}", CleanupAsync)
            .WithName("Cleanup")
            .WithSummary("Stops a session's run and removes its container")
            .WithDescription("A running session is killed and ends as cancelled; a finished one keeps its result. Calling it again is harmless.");
        return app;
    }

    public static async Task<Results<Ok<ExecuteResponse>, ProblemHttpResult>> ExecuteAsync(
        HttpContext context, SessionStore store, RunQueue queue, IOptions<SessionServiceOptions> options, CancellationToken cancellationToken)
    {
        var (upload, problem) = await UploadReader.ReadAsync(context.Request, options.Value, cancellationToken);
        if (problem is not null)
        {
            return TypedResults.Problem(problem);
        }
        if (!queue.TryReserve())
        {
            context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return TypedResults.Problem(Problems.QueueFull(RetryAfterSeconds));
        }

        var sessionId = SessionIds.New();
        try
        {
            await store.CreateAsync(sessionId, upload!.Entrypoint, upload.Files, upload.Options, cancellationToken);
        }
        catch
        {
            queue.Unreserve();
            throw;
        }
        queue.EnqueueReserved(sessionId);
        return TypedResults.Ok(new ExecuteResponse(sessionId));
    }

    public static async Task<Results<Ok<SessionResult>, Accepted<PendingResponse>, ProblemHttpResult>> GetResultAsync(
        [Microsoft.AspNetCore.Mvc.FromRoute(Name = "session_id")] string sessionId, SessionStore store, CancellationToken cancellationToken)
    {
        var session = SessionIds.IsWellFormed(sessionId) ? await store.FindAsync(sessionId, cancellationToken) : null;
        if (session is null)
        {
            return TypedResults.Problem(Problems.SessionNotFound(sessionId));
        }
        if (!SessionStatus.IsTerminal(session.Status))
        {
            return TypedResults.Accepted((string?)null, new PendingResponse(SessionStatus.StillRunning, session.Status, sessionId));
        }
        return TypedResults.Ok(SessionResults.From(session));
    }

    public static async Task<Results<Ok<CleanupResponse>, ProblemHttpResult>> CleanupAsync(
        [Microsoft.AspNetCore.Mvc.FromRoute(Name = "session_id")] string sessionId,
        SessionStore store, RunnerClient runner, CancellationToken cancellationToken)
    {
        var session = SessionIds.IsWellFormed(sessionId) ? await store.FindAsync(sessionId, cancellationToken) : null;
        if (session is null)
        {
            return TypedResults.Problem(Problems.SessionNotFound(sessionId));
        }
        if (!SessionStatus.IsTerminal(session.Status))
        {
            // Ask the runner even for a queued session: the dispatcher may be handing it over right now. The runner
            // kills the run (or remembers the id, so a run that arrives later never starts) and answers with the result.
            var result = await runner.CancelAsync(sessionId, cancellationToken) ?? new RunResult
            {
                Status = SessionStatus.Cancelled,
                Detail = "Cancelled by a cleanup request before it started.",
            };
            await store.CompleteAsync(sessionId, result, cancellationToken);
            session = await store.FindAsync(sessionId, cancellationToken) ?? session;
        }
        return TypedResults.Ok(new CleanupResponse("cleaned up", session.Status));
    }
}
