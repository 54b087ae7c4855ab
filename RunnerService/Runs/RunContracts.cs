using Executor.Sandbox;

namespace Executor.Runner.Runs;

/// <summary>
/// One run of one session. The session id is the run id: a repeated request joins the same run. With
/// <see cref="RecoverOnly"/> (sent after SessionService restarted) it only joins a run or returns its result, and
/// never starts one: a session runs at most once.
/// </summary>
public sealed record RunRequest(
    string SessionId,
    IReadOnlyList<RunFile> Files,
    string Entrypoint,
    IReadOnlyList<string>? Args = null,
    string? Stdin = null,
    int? TimeoutSeconds = null,
    int? MemoryMb = null,
    bool RecoverOnly = false);

/// <summary>A file of the run's working directory; <see cref="Path"/> is relative and already validated.</summary>
public sealed record RunFile(string Path, byte[] Content);

/// <summary>Terminal statuses a run ends in.</summary>
public static class RunStatus
{
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string TimedOut = "timed_out";
    public const string MemoryExceeded = "memory_exceeded";
    public const string OutputLimitExceeded = "output_limit_exceeded";
    public const string Cancelled = "cancelled";
    public const string InternalError = "internal_error";
}

public sealed record RunResult
{
    public required string Status { get; init; }
    public int? ExitCode { get; init; }
    public int? Signal { get; init; }
    public string Stdout { get; init; } = "";
    public string Stderr { get; init; } = "";
    public string Logs { get; init; } = "";
    public bool StdoutTruncated { get; init; }
    public bool StderrTruncated { get; init; }
    public double DurationMs { get; init; }
    public double? CpuTimeMs { get; init; }
    public long? PeakMemoryBytes { get; init; }
    public DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset FinishedAt { get; init; }
    public bool WarmStart { get; init; }
    public string? Detail { get; init; }
    public SandboxLimits? Limits { get; init; }

    /// <summary>The OCI runtime that ran the sandbox: "runc", or "runsc" for gVisor.</summary>
    public string? Runtime { get; init; }

    /// <summary>The container the run used (the last one, if a dead warm one was replaced). Internal: for operators and tests.</summary>
    public string? ContainerId { get; init; }
}

/// <summary>What the runner knows of a run while it happens.</summary>
public sealed record RunInfo(string SessionId, string State, string? ContainerId, bool? WarmStart);

/// <summary>What the runner is doing: attached warm slots (target and filled), runs in progress, removals pending.</summary>
public sealed record RunnerState(int SlotsTarget, int SlotsReady, int ActiveRuns, int PendingRemovals)
{
    /// <summary>This process, for operators (and fault tests) that must find it.</summary>
    public int Pid { get; } = Environment.ProcessId;
}
