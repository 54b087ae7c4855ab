namespace Executor.Session.Dispatch;

// RunnerService's contract as this service uses it (JSON, snake_case). Each service owns the shapes it speaks:
// no shared assembly couples their deployments.

public sealed record RunRequest(
    string SessionId,
    IReadOnlyList<RunFile> Files,
    string Entrypoint,
    IReadOnlyList<string> Args,
    string? Stdin,
    int? TimeoutSeconds,
    int? MemoryMb,
    bool RecoverOnly = false);

public sealed record RunFile(string Path, byte[] Content);

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
    public bool WarmStart { get; init; }
    public string? Detail { get; init; }
    public RunLimits? Limits { get; init; }
    public string? Runtime { get; init; }
}

/// <summary>The limits a run had.</summary>
public sealed record RunLimits(int TimeoutSeconds, int MemoryMb, double Cpus, int PidsLimit, long OutputLimitBytes);
