using System.ComponentModel.DataAnnotations;

namespace Executor.Session.Sessions;

public sealed class SessionServiceOptions
{
    public const string Section = "Sessions";

    /// <summary>SQLite database file; relative paths are under the content root.</summary>
    [Required]
    public string DatabasePath { get; set; } = "data/sessions.db";

    /// <summary>Largest script accepted (bytes). Larger uploads get 413.</summary>
    [Range(1, 64L * 1024 * 1024)]
    public long MaxScriptBytes { get; set; } = 1024 * 1024;

    /// <summary>Where RunnerService is found (service discovery name or URL).</summary>
    [Required]
    public string RunnerUrl { get; set; } = "http://runner";

    /// <summary>Runs in flight at once across the runner; default two per core (each sandbox gets half a core).</summary>
    [Range(1, 1024)]
    public int MaxConcurrentRuns { get; set; } = Math.Max(2, Environment.ProcessorCount * 2);

    /// <summary>Accepted sessions waiting for a run slot. When full, POST /execute answers 429 with Retry-After.</summary>
    [Range(1, 1_000_000)]
    public int QueueCapacity { get; set; } = 256;

    /// <summary>How long one call to the runner may take: longer than the longest sandbox timeout.</summary>
    [Range(5, 3600)]
    public int RunnerAttemptTimeoutSeconds { get; set; } = 120;

    /// <summary>Extra request-body room for the multipart envelope around the script.</summary>
    public long MaxUploadBytes => MaxScriptBytes + 64 * 1024;
}
