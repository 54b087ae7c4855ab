using Executor.Contracts;

namespace Executor.SessionCore.Sessions;

/// <summary>
/// A session is queued, then running, then ends in exactly one terminal status. The terminal statuses are the
/// runner's; SessionService adds none of its own.
/// </summary>
public static class SessionStatus
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Completed = RunStatus.Completed;
    public const string Failed = RunStatus.Failed;
    public const string TimedOut = RunStatus.TimedOut;
    public const string MemoryExceeded = RunStatus.MemoryExceeded;
    public const string OutputLimitExceeded = RunStatus.OutputLimitExceeded;
    public const string Cancelled = RunStatus.Cancelled;
    public const string InternalError = RunStatus.InternalError;

    /// <summary>The statuses a session ends in: its run's (<see cref="RunStatus"/>).</summary>
    public static IReadOnlyList<string> Terminal => RunStatus.All;

    /// <summary>The statuses of a session that has not ended, as SQL: <c>('queued', 'running')</c>.</summary>
    public const string UnfinishedSql = $"('{Queued}', '{Running}')";

    /// <summary>What seed clients see for a session that has not finished.</summary>
    public const string StillRunning = "still running";

    public static bool IsTerminal(string status) => status is not (Queued or Running);
}
