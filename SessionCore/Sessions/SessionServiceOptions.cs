using System.ComponentModel.DataAnnotations;
using Executor.Contracts;

namespace Executor.SessionCore.Sessions;

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
    public long MaxTotalFileBytes { get; set; } = LimitDefaults.TotalFileBytes;

    /// <summary>Most files in one working directory.</summary>
    [Range(1, 10_000)]
    public int MaxFiles { get; set; } = 100;

    /// <summary>Largest stdin accepted (bytes).</summary>
    [Range(0, 64L * 1024 * 1024)]
    public long MaxStdinBytes { get; set; } = LimitDefaults.StdinBytes;

    /// <summary>Most command-line arguments, and the longest one.</summary>
    [Range(0, 4096)]
    public int MaxArgs { get; set; } = 64;

    [Range(1, 128 * 1024)]
    public int MaxArgLength { get; set; } = 4096;

    /// <summary>The most a request may ask for with timeout_seconds (keep equal to the runner's Sandbox:MaxTimeoutSeconds).</summary>
    [Range(1, 3600)]
    public int MaxTimeoutSeconds { get; set; } = LimitDefaults.MaxTimeoutSeconds;

    /// <summary>The most a request may ask for with memory_mb (keep equal to the runner's Sandbox:MaxMemoryMb).</summary>
    [Range(16, 65536)]
    public int MaxMemoryMb { get; set; } = LimitDefaults.MaxMemoryMb;

    /// <summary>
    /// The deployment's secret from which each runner host's own credential is derived (HostCredentials: HMAC of the
    /// host's name). Required: without it anyone who reaches this service could act as a runner host. The AppHost makes
    /// one at every start; docker-compose takes EXECUTOR_HOST_SECRET.
    /// </summary>
    [Required]
    [MinLength(16)]
    public string HostSecret { get; set; } = "";

    /// <summary>Runner hosts whose credentials are no longer accepted (a host taken out, or whose credential leaked).</summary>
    public List<string> RevokedHosts { get; set; } = [];

    /// <summary>Accepted sessions waiting for a runner host. When full, POST /execute answers 429 with Retry-After.</summary>
    [Range(1, 1_000_000)]
    public int QueueCapacity { get; set; } = 256;

    /// <summary>How long ?wait=true waits for the end when no wait_seconds is given.</summary>
    [Range(0, 3600)]
    public int DefaultWaitSeconds { get; set; } = 30;

    /// <summary>The longest wait a request may ask for with wait_seconds.</summary>
    [Range(0, 3600)]
    public int MaxWaitSeconds { get; set; } = 60;

    /// <summary>How long a finished session (its files and result) is kept.</summary>
    [Range(1, 24 * 365)]
    public int RetentionHours { get; set; } = 24;

    /// <summary>How often sessions past their retention are purged.</summary>
    [Range(1, 24 * 60)]
    public int MaintenanceIntervalSeconds { get; set; } = 60;

    /// <summary>An interactive session's input ends (the script reads end of file) when no client attached within this long of its start.</summary>
    [Range(0, 3600)]
    public int StdinAttachGraceSeconds { get; set; } = 10;

    /// <summary>
    /// Live streams (GET /result/{id}/events, the attach WebSocket) and long polls (wait mode) one key may hold open at
    /// once on this replica; one more is a 429.
    /// </summary>
    [Range(1, 10_000)]
    public int MaxStreamsPerKey { get; set; } = 16;

    /// <summary>The largest request body: files, stdin and room for the multipart envelope.</summary>
    public long MaxUploadBytes => MaxTotalFileBytes + MaxStdinBytes + MaxTestCaseBytes + LimitDefaults.EnvelopeBytes;

    /// <summary>The most test cases one submission may carry.</summary>
    [Range(1, 10_000)]
    public int MaxTestCases { get; set; } = 100;

    /// <summary>All of a submission's test cases together: their stdin and expected outputs, in bytes.</summary>
    [Range(0, long.MaxValue)]
    public long MaxTestCaseBytes { get; set; } = LimitDefaults.TestCaseBytes;

    /// <summary>The most a graded submission may take in all: its compile stage and every case's time limit together.</summary>
    [Range(1, 3600)]
    public int MaxGradingSeconds { get; set; } = 300;
}
