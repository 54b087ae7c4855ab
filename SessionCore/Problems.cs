using Microsoft.AspNetCore.Mvc;

namespace Executor.SessionCore;

/// <summary>RFC 9457 problem details with stable type URIs, one per kind of failure a client can act on.</summary>
public static class Problems
{
    public const string TypePrefix = "urn:executor:problem:";

    /// <summary>
    /// The messages the Engine this project started from answered with, in its "error" member, which its clients (and its
    /// tests) read: problems of these types carry it too, beside type, title and detail.
    /// </summary>
    private static readonly Dictionary<string, string> EngineErrors = new(StringComparer.Ordinal)
    {
        ["missing-file"] = "No file provided",
        ["not-python"] = "File must be a .py file",
        ["session-not-found"] = "Session not found",
    };

    public static ProblemDetails Create(int status, string type, string title, string detail)
    {
        var problem = new ProblemDetails { Status = status, Type = TypePrefix + type, Title = title, Detail = detail };
        if (EngineErrors.TryGetValue(type, out var error))
        {
            problem.Extensions["error"] = error;
        }
        return problem;
    }

    public static ProblemDetails SessionNotFound(string sessionId) => Create(
        StatusCodes.Status404NotFound, "session-not-found", "No such session",
        $"There is no session '{sessionId}': it never existed or it has expired.");

    public static ProblemDetails EngineUnavailable(string why, int retryAfterSeconds) => Create(
        StatusCodes.Status503ServiceUnavailable, "engine-unavailable", "Cannot run scripts right now",
        $"The container engine is unavailable ({why}). Nothing was stored; retry in {retryAfterSeconds} s.");

    public static ProblemDetails BadWait(int maxWaitSeconds) => Create(
        StatusCodes.Status400BadRequest, "bad-wait", "Invalid wait", $"wait_seconds must be a whole number from 0 to {maxWaitSeconds}.");

    /// <summary>A runner host's call about a session another host runs (or none).</summary>
    public static ProblemDetails NotTheHosts(string host, string sessionId) => Create(
        StatusCodes.Status404NotFound, "not-the-hosts-session", "Not this host's session", $"Runner host '{host}' does not run session {sessionId}.");

    public static ProblemDetails HostCredentialRequired(string host, string header) => Create(
        StatusCodes.Status401Unauthorized, "host-credential-required", "Not this host's credential",
        $"Calls for runner host '{host}' must carry that host's own credential in {header}.");

    public static ProblemDetails HostRevoked(string host) => Create(
        StatusCodes.Status403Forbidden, "host-revoked", "Runner host revoked",
        $"Runner host '{host}' is revoked (Sessions:RevokedHosts): it may not claim work or report.");

    public static ProblemDetails QueueFull(int retryAfterSeconds) => Create(
        StatusCodes.Status429TooManyRequests, "queue-full", "Too many sessions waiting",
        $"Every run slot is busy and the queue is full. Nothing was stored; retry in {retryAfterSeconds} s.");
}
