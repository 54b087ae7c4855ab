namespace Executor.SessionCore.Sessions;

/// <summary>
/// A session is queued, then running, then ends in exactly one terminal status. The terminal statuses are the
/// runner's; SessionService adds none of its own.
/// </summary>
public static class SessionStatus
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string TimedOut = "timed_out";
    public const string MemoryExceeded = "memory_exceeded";
    public const string OutputLimitExceeded = "output_limit_exceeded";
    public const string Cancelled = "cancelled";
    public const string InternalError = "internal_error";

    /// <summary>What seed clients see for a session that has not finished.</summary>
    public const string StillRunning = "still running";

    public static bool IsTerminal(string status) => status is not (Queued or Running);
}
