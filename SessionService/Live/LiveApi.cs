using System.Globalization;
using System.Net.ServerSentEvents;
using Executor.SessionCore;
using Executor.SessionCore.Dispatch;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;
using Microsoft.AspNetCore.Mvc;

namespace Executor.Session.Live;

/// <summary>GET /result/{id}/events: a session as it happens, as Server-Sent Events (see <see cref="SessionFeed"/>).</summary>
public static class LiveApi
{
    public static IEndpointRouteBuilder MapLiveApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/result/{session_id}/events", Events)
            .WithName("GetResultEvents")
            .WithTags("Sessions")
            .WithSummary("Follows a session as it happens (Server-Sent Events)")
            .WithDescription("Events: 'state' ({\"state\": \"queued\"|\"running\"}), 'stdout' and 'stderr' ({\"offset\", \"text\"}: the text as the "
                + "script writes it, at its byte offset in the combined output), 'ping' every 15 s, and one final 'result' (the whole result). "
                + "An event's id is the byte offset after it: send it back as Last-Event-ID (or ?last_event_id=) to resume without loss or duplicates.")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        return app;
    }

    public static async Task<IResult> Events(
        [FromRoute(Name = "session_id")] string sessionId, HttpContext context, SessionCommands sessions, ISessionStore store, IOutputLog log,
        SessionSignals signals, StreamGate gate, TimeProvider time, CancellationToken cancellationToken)
    {
        if (await sessions.FindOwnedAsync(sessionId, context, cancellationToken) is null)
        {
            return TypedResults.Problem(Problems.SessionNotFound(sessionId));
        }
        if (gate.TryEnter(context) is { } tooMany)
        {
            return TypedResults.Problem(tooMany);
        }
        var from = Offset(context.Request.Headers["Last-Event-ID"].ToString()) ?? Offset(context.Request.Query["last_event_id"].ToString()) ?? 0;
        // No buffering anywhere on the way (the gateway streams as it is; this says so to any other proxy too).
        context.Response.Headers["X-Accel-Buffering"] = "no";
        return TypedResults.ServerSentEvents(Items(SessionFeed.StreamAsync(sessionId, from, store, log, signals, time, cancellationToken)));
    }

    /// <summary>An output offset a client resumes from (an event id), or null.</summary>
    public static long? Offset(string? value) =>
        long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var offset) ? offset : null;

    private static async IAsyncEnumerable<SseItem<string>> Items(IAsyncEnumerable<LiveEvent> events)
    {
        await foreach (var e in events)
        {
            yield return new SseItem<string>(e.Data.ToJsonString(SessionResults.Json), e.Type) { EventId = e.Id };
        }
    }
}
