using Executor.Session.Live;
using Executor.Session.Uploads;
using Executor.SessionCore;
using Executor.SessionCore.Runtimes;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Submissions;
using Executor.SessionCore.Telemetry;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Executor.Session.Apis;

/// <summary>The public API of sessions: submit a script, read its result (at once or waiting), clean it up.</summary>
public static class SessionsApi
{
    /// <summary>POST /execute's name, which the OpenAPI document's form description finds it by.</summary>
    public const string ExecuteEndpointName = "Execute";

    public static IEndpointRouteBuilder MapSessionsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("").WithTags("Sessions");

        api.MapPost("/execute", ExecuteAsync)
            .WithName(ExecuteEndpointName)
            .WithSummary("Submits a program to run in a fresh sandbox, once or against test cases")
            .WithDescription("multipart/form-data with the script (a UTF-8 .py file, or a .c, .cpp, .java, .js or .sh file) in the field 'file' (or the same fields as application/json, "
                + "with 'code' or 'files' [{name, content, encoding: utf8|base64|hex}] for the files) — or several 'file' fields, "
                + "or a .zip, which become the working directory — and optional 'entrypoint', 'stdin', 'args', 'timeout_seconds' and "
                + "'memory_mb', 'runtime' (GET /runtimes lists them; default python-3.11, or the first runtime of the entry point's language), "
                + "'test_cases' (a JSON array of {name, stdin, expected_output, timeout_seconds}: the program is prepared once and judged "
                + "against each; with 'comparison', 'tolerance' and 'stop_on_failure'), 'compiler_options' and 'compile_timeout_seconds' "
                + "(C, C++, Java), 'stdin_mode' (batch or interactive: attach with GET /result/{session_id}/attach) and 'callback_url' (POSTed the "
                + "result when the session ends, signed as Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature). Files the script writes under /sandbox/out/ come back with the "
                + "result. Answers at once with the session id; read the outcome from GET /result/{session_id}. With ?wait=true "
                + "(or ?wait_seconds=N) it answers 200 with the whole result when the run ends within the wait (30 s by default, at "
                + "most 60), else 202 with the session id.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .DisableAntiforgery();

        api.MapGet("/result/{session_id}", GetResultAsync)
            .WithName("GetResult")
            .WithSummary("Reads a session's result")
            .WithDescription("202 with {\"status\": \"still running\"} while the session is queued or running; 200 with the result once "
                + "it has ended. With ?wait_seconds=N (at most 60) the request waits up to N seconds for the end before answering.")
            .ProducesProblem(StatusCodes.Status400BadRequest);

        api.MapPost("/cleanup/{session_id}", CleanupAsync)
            .WithName("Cleanup")
            .WithSummary("Stops a session's run and removes its container")
            .WithDescription("A running session is killed and ends as cancelled; a finished one keeps its result. Calling it again is harmless.");
        return app;
    }

    public static async Task<Results<Ok<ExecuteResponse>, Ok<SessionResult>, Accepted<PendingResponse>, ProblemHttpResult>> ExecuteAsync(
        HttpContext context, SessionSubmitter submitter, SessionTelemetry telemetry, IOptions<SessionServiceOptions> options, StreamGate gate,
        RuntimeDirectory runtimes, [FromQuery] bool? wait, [FromQuery(Name = "wait_seconds")] int? waitSeconds, CancellationToken cancellationToken)
    {
        if (WaitFor(wait, waitSeconds, options.Value) is not { } waitFor)
        {
            telemetry.Rejected("bad_wait");
            return TypedResults.Problem(Problems.BadWait(options.Value.MaxWaitSeconds));
        }
        if (waitFor > TimeSpan.Zero && gate.TryEnter(context) is { } tooMany)
        {
            return TypedResults.Problem(tooMany);
        }
        Submission? upload;
        using (var validate = SessionTelemetry.Source.StartActivity("validate upload"))
        {
            // The form, or the same fields as JSON.
            (upload, var problem) = JsonUploadReader.IsJson(context.Request)
                ? await JsonUploadReader.ReadAsync(context.Request, options.Value, runtimes, cancellationToken)
                : await UploadReader.ReadAsync(context.Request, options.Value, cancellationToken);
            if (problem is not null)
            {
                validate?.SetTag(SessionTelemetry.Reason, problem.Type);
                telemetry.Rejected("invalid_upload");
                return TypedResults.Problem(problem);
            }
        }
        var submission = await submitter.SubmitAsync(context, upload!, waitFor, cancellationToken);
        if (submission.Problem is { } refused)
        {
            return TypedResults.Problem(refused);
        }
        var sessionId = submission.SessionId!;
        if (waitFor == TimeSpan.Zero)
        {
            return TypedResults.Ok(new ExecuteResponse(sessionId));
        }
        return submission.Ended is { } session
            ? TypedResults.Ok(SessionResults.From(session))
            : TypedResults.Accepted($"/result/{sessionId}", Pending(sessionId, submission.Session?.Status ?? SessionStatus.Queued));
    }

    public static async Task<Results<Ok<SessionResult>, Accepted<PendingResponse>, ProblemHttpResult>> GetResultAsync(
        [FromRoute(Name = "session_id")] string sessionId, [FromQuery(Name = "wait_seconds")] int? waitSeconds, HttpContext context,
        SessionCommands sessions, IOptions<SessionServiceOptions> options, StreamGate gate, CancellationToken cancellationToken)
    {
        if (WaitFor(wait: null, waitSeconds, options.Value) is not { } waitFor)
        {
            return TypedResults.Problem(Problems.BadWait(options.Value.MaxWaitSeconds));
        }
        var session = await sessions.FindOwnedAsync(sessionId, context, cancellationToken);
        if (session is null)
        {
            return TypedResults.Problem(Problems.SessionNotFound(sessionId));
        }
        if (!SessionStatus.IsTerminal(session.Status) && waitFor > TimeSpan.Zero)
        {
            if (gate.TryEnter(context) is { } tooMany)
            {
                return TypedResults.Problem(tooMany);
            }
            session = await sessions.WaitAsync(session, waitFor, cancellationToken);
        }
        if (!SessionStatus.IsTerminal(session.Status))
        {
            return TypedResults.Accepted((string?)null, Pending(sessionId, session.Status));
        }
        return TypedResults.Ok(SessionResults.From(session));
    }

    public static async Task<Results<Ok<CleanupResponse>, ProblemHttpResult>> CleanupAsync(
        [FromRoute(Name = "session_id")] string sessionId, HttpContext context, SessionCommands sessions, CancellationToken cancellationToken)
    {
        var session = await sessions.FindOwnedAsync(sessionId, context, cancellationToken);
        if (session is null)
        {
            return TypedResults.Problem(Problems.SessionNotFound(sessionId));
        }
        session = await sessions.CancelAsync(session, cancellationToken);
        return TypedResults.Ok(new CleanupResponse("cleaned up", session.Status));
    }

    private static PendingResponse Pending(string sessionId, string state) => new(SessionStatus.StillRunning, state, sessionId);

    /// <summary>How long to wait for the end: zero without wait parameters, null when they are out of range.</summary>
    private static TimeSpan? WaitFor(bool? wait, int? waitSeconds, SessionServiceOptions options) => waitSeconds switch
    {
        null => TimeSpan.FromSeconds(wait == true ? Math.Min(options.DefaultWaitSeconds, options.MaxWaitSeconds) : 0),
        >= 0 when waitSeconds <= options.MaxWaitSeconds => TimeSpan.FromSeconds(waitSeconds.Value),
        _ => null,
    };
}
