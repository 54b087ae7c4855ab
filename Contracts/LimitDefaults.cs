namespace Executor.Contracts;

/// <summary>
/// The default limits that SessionService, the runner hosts and the gateway must agree on, declared once: a run's
/// default timeout and memory and the most a request may ask for (the runner hosts' Sandbox options, SessionService's
/// Sessions options and a key's quotas start from these), and the largest request body an upload may be.
/// </summary>
public static class LimitDefaults
{
    /// <summary>The timeout of a run that names none (Sandbox:TimeoutSeconds).</summary>
    public const int TimeoutSeconds = 10;

    /// <summary>The most a request may ask for with timeout_seconds (Sandbox:MaxTimeoutSeconds, Sessions:MaxTimeoutSeconds).</summary>
    public const int MaxTimeoutSeconds = 60;

    /// <summary>The memory of a run that names none and whose runtime gives none (Sandbox:MemoryMb).</summary>
    public const int MemoryMb = 128;

    /// <summary>The most a request may ask for with memory_mb (Sandbox:MaxMemoryMb, Sessions:MaxMemoryMb).</summary>
    public const int MaxMemoryMb = 512;

    /// <summary>All of a working directory's files together (Sessions:MaxTotalFileBytes).</summary>
    public const long TotalFileBytes = 4 * 1024 * 1024;

    /// <summary>The largest stdin (Sessions:MaxStdinBytes).</summary>
    public const long StdinBytes = 1024 * 1024;

    /// <summary>The compile stage's time limit when a submission names none (Sandbox:CompileTimeoutSeconds).</summary>
    public const int CompileTimeoutSeconds = 20;

    /// <summary>All of a submission's test cases together: their stdin and expected outputs (Sessions:MaxTestCaseBytes).</summary>
    public const long TestCaseBytes = 8 * 1024 * 1024;

    /// <summary>Room for a multipart form's envelope beyond its files and stdin.</summary>
    public const long EnvelopeBytes = 64 * 1024;

    /// <summary>
    /// The largest file a stateful sandbox takes in one PUT (Sandboxes:MaxFileBytes): what the gateway lets through to
    /// /sandboxes/*, and as much as a sandbox's work directory holds by default (Sandbox:FileSizeLimitMb, WorkDirSizeMb).
    /// </summary>
    public const long SandboxFileBytes = 16L * 1024 * 1024;

    /// <summary>The largest upload with the default limits: what the gateway lets through to the upload routes.</summary>
    public const long UploadBytes = TotalFileBytes + StdinBytes + TestCaseBytes + EnvelopeBytes;
}
