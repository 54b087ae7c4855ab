using System.ComponentModel.DataAnnotations;

namespace Executor.Session.Sessions;

public sealed class SessionServiceOptions
{
    public const string Section = "Sessions";

    /// <summary>SQLite database file; relative paths are under the content root.</summary>
    [Required]
    public string DatabasePath { get; set; } = "data/sessions.db";

    /// <summary>Largest single file accepted (bytes). Larger files get 413.</summary>
    [Range(1, 64L * 1024 * 1024)]
    public long MaxScriptBytes { get; set; } = 1024 * 1024;

    /// <summary>Largest working directory accepted: all files together, a zip's after extraction (bytes).</summary>
    [Range(1, 256L * 1024 * 1024)]
    public long MaxTotalFileBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Most files in one working directory.</summary>
    [Range(1, 10_000)]
    public int MaxFiles { get; set; } = 100;

    /// <summary>Largest stdin accepted (bytes).</summary>
    [Range(0, 64L * 1024 * 1024)]
    public long MaxStdinBytes { get; set; } = 1024 * 1024;

    /// <summary>Most command-line arguments, and the longest one.</summary>
    [Range(0, 4096)]
    public int MaxArgs { get; set; } = 64;

    [Range(1, 128 * 1024)]
    public int MaxArgLength { get; set; } = 4096;

    /// <summary>The most a request may ask for with timeout_seconds (keep equal to the runner's Sandbox:MaxTimeoutSeconds).</summary>
    [Range(1, 3600)]
    public int MaxTimeoutSeconds { get; set; } = 60;

    /// <summary>The most a request may ask for with memory_mb (keep equal to the runner's Sandbox:MaxMemoryMb).</summary>
    [Range(16, 65536)]
    public int MaxMemoryMb { get; set; } = 512;

    /// <summary>Where RunnerService is found (service discovery name or URL).</summary>
    [Required]
    public string RunnerUrl { get; set; } = "http://runner";

    /// <summary>
    /// Runs in flight at once across the runner. Default: two per core (each sandbox gets half a core), and no more
    /// than half the memory can hold at 256 MiB a run (128 MiB sandbox plus the engine's share).
    /// </summary>
    [Range(1, 1024)]
    public int MaxConcurrentRuns { get; set; } = DefaultConcurrency();

    /// <summary>Accepted sessions waiting for a run slot. When full, POST /execute answers 429 with Retry-After.</summary>
    [Range(1, 1_000_000)]
    public int QueueCapacity { get; set; } = 256;

    /// <summary>How long ?wait=true waits for the end when no wait_seconds is given.</summary>
    [Range(0, 3600)]
    public int DefaultWaitSeconds { get; set; } = 30;

    /// <summary>The longest wait a request may ask for with wait_seconds.</summary>
    [Range(0, 3600)]
    public int MaxWaitSeconds { get; set; } = 60;

    /// <summary>How long one call to the runner may take: longer than the longest sandbox timeout.</summary>
    [Range(5, 3600)]
    public int RunnerAttemptTimeoutSeconds { get; set; } = 120;

    /// <summary>How long a finished session (its files and result) is kept.</summary>
    [Range(1, 24 * 365)]
    public int RetentionHours { get; set; } = 24;

    /// <summary>How often expired sessions are purged and stuck ones looked for.</summary>
    [Range(1, 24 * 60)]
    public int MaintenanceIntervalSeconds { get; set; } = 60;

    /// <summary>
    /// A session running this long with no call to the runner in flight here is ended as internal_error: longer
    /// than the longest timeout plus the runner's grace, so a live run is never cut short.
    /// </summary>
    [Range(10, 24 * 3600)]
    public int StuckAfterSeconds { get; set; } = 180;

    /// <summary>The largest request body: files, stdin and room for the multipart envelope.</summary>
    public long MaxUploadBytes => MaxTotalFileBytes + MaxStdinBytes + 64 * 1024;

    private static int DefaultConcurrency()
    {
        var byCpu = Environment.ProcessorCount * 2;
        var byMemory = (int)(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2 / (256L * 1024 * 1024));
        return Math.Clamp(Math.Min(byCpu, byMemory), 1, 1024);
    }
}
