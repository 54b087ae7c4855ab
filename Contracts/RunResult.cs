namespace Executor.Contracts;

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

    /// <summary>The run moved more bytes or opened more connections through the egress proxy than its limits: it was killed.</summary>
    public const string EgressLimitExceeded = "egress_limit_exceeded";

    /// <summary>A compiled language's program did not compile: nothing ran (the result's compile section says why).</summary>
    public const string CompilationError = "compilation_error";

    /// <summary>Every terminal status, for the documents that list them.</summary>
    public static IReadOnlyList<string> All { get; } =
        [Completed, Failed, TimedOut, MemoryExceeded, OutputLimitExceeded, Cancelled, InternalError, EgressLimitExceeded, CompilationError];
}

/// <summary>How a run ended, as its runner host measured it. SessionService stores the first one it gets for a session.</summary>
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
    public RunLimits? Limits { get; init; }

    /// <summary>The runtime whose image and defaults the run had, e.g. "python-3.11" or "python-3.11-data".</summary>
    public string? Runtime { get; init; }

    /// <summary>The OCI runtime that isolated the sandbox: "runc", or "runsc" for gVisor.</summary>
    public string? Isolation { get; init; }

    /// <summary>
    /// How the combined output (<see cref="Logs"/>, as UTF-8 bytes) splits into its writes: stdout lengths positive,
    /// stderr negative, in write order. A live stream replays the end of a run from it.
    /// </summary>
    public IReadOnlyList<int>? Segments { get; init; }

    /// <summary>Every connection the run tried through the egress proxy (null when it had no egress).</summary>
    public IReadOnlyList<EgressConnection>? Egress { get; init; }

    /// <summary>The files the run left in /sandbox/out, within the limits.</summary>
    public IReadOnlyList<RunOutputFile>? Files { get; init; }

    /// <summary>The files of /sandbox/out that did not come back, and why.</summary>
    public IReadOnlyList<DroppedFile>? DroppedFiles { get; init; }

    /// <summary>The runner host that ran it (null when it never reached one).</summary>
    public string? RunnerHost { get; init; }

    /// <summary>The container the run used (the last one, if a dead warm one was replaced). For operators and tests.</summary>
    public string? ContainerId { get; init; }

    /// <summary>How a compiled language's compile stage ended (null for a language that does not compile).</summary>
    public CompileOutcome? Compile { get; init; }

    /// <summary>A graded run's verdict per test case, in the cases' order (null for a run without cases).</summary>
    public IReadOnlyList<TestResult>? TestResults { get; init; }

    /// <summary>A graded run in one line (null for a run without cases).</summary>
    public TestSummary? TestSummary { get; init; }

    /// <summary>What a stateful sandbox's command produced (null for a run): see <see cref="SandboxCommand"/>.</summary>
    public SandboxOutcome? Sandbox { get; init; }
}

/// <summary>The limits a run had.</summary>
public sealed record RunLimits(int TimeoutSeconds, int MemoryMb, double Cpus, int PidsLimit, long OutputLimitBytes)
{
    /// <summary>How many files it could hand back from /sandbox/out.</summary>
    public int? OutFilesMaxCount { get; init; }

    /// <summary>How many bytes of files, in all, it could hand back.</summary>
    public long? OutFilesMaxBytes { get; init; }
}

/// <summary>A file a run left in /sandbox/out. <see cref="Content"/> travels from the runner host to SessionService, which stores it apart.</summary>
/// <param name="Path">Relative to out/, checked like an upload's names.</param>
/// <param name="Sha256">Lower-case hex SHA-256 of the content, computed by the runner host.</param>
public sealed record RunOutputFile(string Path, long Size, string Sha256, string ContentType)
{
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public byte[]? Content { get; init; }
}

/// <summary>A file of /sandbox/out that did not come back, and why: count_limit, size_limit, bad_name, not_a_regular_file, unreadable, too_deep, too_many_entries.</summary>
public sealed record DroppedFile(string Path, long Size, string Reason);
