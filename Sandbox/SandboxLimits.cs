namespace Executor.Sandbox;

/// <summary>The limits one run gets: the configured defaults, or a request's own within the configured maximums.</summary>
public sealed record SandboxLimits(int TimeoutSeconds, int MemoryMb, double Cpus, int PidsLimit, long OutputLimitBytes)
{
    public TimeSpan Timeout => TimeSpan.FromSeconds(TimeoutSeconds);

    /// <summary>How many files the run may hand back from /sandbox/out.</summary>
    public int OutFilesMaxCount { get; init; } = 32;

    /// <summary>How many bytes of files, in all, the run may hand back.</summary>
    public long OutFilesMaxBytes { get; init; } = 8 * 1024 * 1024;

    /// <summary>The defaults of a run of <paramref name="language"/> (its own memory limit), else of the default runtime's settings.</summary>
    public static SandboxLimits Defaults(SandboxOptions options, LanguageRuntime? language = null) =>
        new(options.TimeoutSeconds, language?.MemoryMb ?? options.MemoryMb, options.Cpus, options.PidsLimit, options.OutputLimitBytes)
        {
            OutFilesMaxCount = options.OutFilesMaxCount,
            OutFilesMaxBytes = options.OutFilesMaxBytes,
        };

    /// <summary>A request's timeout and memory, never above the maximums (callers refuse those before they get here).</summary>
    public static SandboxLimits For(SandboxOptions options, int? timeoutSeconds, int? memoryMb, LanguageRuntime? language = null) =>
        Defaults(options, language) with
        {
            TimeoutSeconds = Math.Clamp(timeoutSeconds ?? options.TimeoutSeconds, 1, options.MaxTimeoutSeconds),
            MemoryMb = Math.Clamp(memoryMb ?? language?.MemoryMb ?? options.MemoryMb, 16, options.MaxMemoryMb),
        };
}
