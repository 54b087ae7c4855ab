using System.ComponentModel;
using Executor.Contracts;

namespace Executor.SessionCore.Sessions;

/// <summary>A file of a session's working directory.</summary>
public sealed record SessionFile(string Path, byte[] Content);

/// <summary>GET /result once the session has ended (HTTP 200).</summary>
public sealed record SessionResult
{
    public required string SessionId { get; init; }

    [Description("completed (exit 0), failed (non-zero exit or killed by a signal), timed_out, memory_exceeded, output_limit_exceeded, cancelled (cleaned up before it ended) or internal_error (not the script's fault; see detail).")]
    public required string Status { get; init; }

    [Description("stdout and stderr together, in the order the script wrote them.")]
    public string Logs { get; init; } = "";

    public string Stdout { get; init; } = "";

    public string Stderr { get; init; } = "";

    [Description("The script's exit code; null when it was killed by a signal or never ran.")]
    public int? ExitCode { get; init; }

    [Description("The signal that killed the script (9 for timeouts, memory and output limits), else null.")]
    public int? Signal { get; init; }

    public bool StdoutTruncated { get; init; }

    public bool StderrTruncated { get; init; }

    [Description("Wall-clock time of the script in its sandbox, in milliseconds.")]
    public double DurationMs { get; init; }

    [Description("CPU time the script used (user + system), in milliseconds.")]
    public double? CpuTimeMs { get; init; }

    [Description("Peak resident memory of the script's process, in bytes.")]
    public long? PeakMemoryBytes { get; init; }

    [Description("True when the script ran in a pre-started container from the warm pool.")]
    public bool WarmStart { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset? StartedAt { get; init; }

    public DateTimeOffset? FinishedAt { get; init; }

    [Description("Why the session ended as it did, when the status alone does not say.")]
    public string? Detail { get; init; }

    [Description("The limits the script ran under.")]
    public RunLimits? Limits { get; init; }

    [Description("The runtime the script ran in (GET /runtimes), e.g. python-3.11 or python-3.11-data.")]
    public string? Runtime { get; init; }

    [Description("The OCI runtime that isolated the script: runc (containers with Executor's seccomp profile) or runsc (gVisor).")]
    public string? Isolation { get; init; }

    [Description("The runner host that ran the script (its Docker engine's machine).")]
    public string? RunnerHost { get; init; }

    [Description("The files the script left in /sandbox/out/, within the limits: download each from its url.")]
    public IReadOnlyList<ResultFile> Files { get; init; } = [];

    [Description("The files of /sandbox/out/ that did not come back, and why (count_limit, size_limit, bad_name, not_a_regular_file, unreadable, too_deep, too_many_entries).")]
    public IReadOnlyList<DroppedFile> DroppedFiles { get; init; } = [];

    [Description("Every connection the script tried through the egress proxy, allowed or refused (time, destination, address, bytes each way); "
        + "null when the run asked for no egress.")]
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<EgressConnection>? Egress { get; init; }

    [Description("How a compiled language's compile stage ended (status ok, failed, timed_out or output_limit_exceeded; the compiler's output); "
        + "null for a language that does not compile.")]
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public CompileOutcome? Compile { get; init; }

    [Description("A submission with test_cases: each case's verdict (accepted, wrong_answer with a short diff, time_limit_exceeded, "
        + "memory_limit_exceeded, runtime_error, output_limit_exceeded, compilation_error, skipped), time, memory and output.")]
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<TestResult>? TestResults { get; init; }

    [Description("A submission with test_cases in one line: passed, total, the overall verdict and the first failing case.")]
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public TestSummary? TestSummary { get; init; }
}

/// <summary>A file a script left in /sandbox/out/.</summary>
/// <param name="Path">Relative to out/.</param>
/// <param name="Sha256">Lower-case hex SHA-256 of its bytes.</param>
/// <param name="Url">GET it for the bytes (the same key as the session).</param>
public sealed record ResultFile(string Path, long Size, string Sha256, string ContentType, string Url);
