using Executor.SessionCore;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Executor.Session.Apis;

public static class CallbacksApi
{
    /// <summary>GET /result/{id}/callback: how the session's callback is going.</summary>
    public static IEndpointRouteBuilder MapCallbacksApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/result/{session_id}/callback", GetCallbackAsync)
            .WithName("GetCallback")
            .WithTags("Sessions")
            .WithSummary("Shows how a session's callback is going")
            .WithDescription("state: pending (the session runs, or a retry is due), delivered, or failed (given up); attempts so far and the last error.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    public static async Task<Results<Ok<CallbackStatus>, ProblemHttpResult>> GetCallbackAsync(
        [FromRoute(Name = "session_id")] string sessionId, HttpContext context, SessionCommands sessions, ICallbackOutbox outbox,
        CancellationToken cancellationToken)
    {
        if (await sessions.FindOwnedAsync(sessionId, context, cancellationToken) is null)
        {
            return TypedResults.Problem(Problems.SessionNotFound(sessionId));
        }
        return await outbox.FindCallbackAsync(sessionId, cancellationToken) is { } callback
            ? TypedResults.Ok(new CallbackStatus(callback.Url, callback.State, callback.Attempts, callback.LastError, callback.DeliveredAt))
            : TypedResults.Problem(Problems.Create(StatusCodes.Status404NotFound, "no-callback", "No callback",
                $"Session '{sessionId}' was submitted without a callback_url."));
    }
}

/// <summary>A session's callback: where it goes, and how it is going.</summary>
public sealed record CallbackStatus(string Url, string State, int Attempts, string? LastError, DateTimeOffset? DeliveredAt);
