using System.ComponentModel;

namespace Executor.Session.Apis;

/// <summary>The answer to POST /execute.</summary>
/// <param name="SessionId">Unguessable id to read the result with.</param>
public sealed record ExecuteResponse([property: Description("Unguessable id of the new session.")] string SessionId);

/// <summary>GET /result while the session has not finished (HTTP 202).</summary>
public sealed record PendingResponse(
    [property: Description("Always \"still running\" until the session ends (seed-compatible).")] string Status,
    [property: Description("queued (waiting for a run slot) or running (in its sandbox).")] string State,
    string SessionId);

/// <summary>The answer to POST /cleanup.</summary>
/// <param name="Status">Always "cleaned up".</param>
/// <param name="SessionStatus">The session's status after the cleanup.</param>
public sealed record CleanupResponse(string Status, string SessionStatus);
