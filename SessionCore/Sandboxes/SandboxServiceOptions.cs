using System.ComponentModel.DataAnnotations;

namespace Executor.SessionCore.Sandboxes;

/// <summary>Stateful sandboxes (section "Sandboxes"): their defaults and bounds. Per-key ceilings are the keys' quotas.</summary>
public sealed class SandboxServiceOptions
{
    public const string Section = "Sandboxes";

    /// <summary>A sandbox without a command this long ends (idle_timeout_seconds when the request names none).</summary>
    [Range(1, 7 * 24 * 3600)]
    public int DefaultIdleTimeoutSeconds { get; set; } = 300;

    /// <summary>A sandbox ends this long after it was created (lifetime_seconds when the request names none).</summary>
    [Range(1, 7 * 24 * 3600)]
    public int DefaultLifetimeSeconds { get; set; } = 3600;

    /// <summary>A call's timeout when it names none.</summary>
    [Range(1, 24 * 3600)]
    public int DefaultCallTimeoutSeconds { get; set; } = 30;

    /// <summary>How long POST /sandboxes waits for a host to create the sandbox before it gives up (503).</summary>
    [Range(1, 600)]
    public int CreateWaitSeconds { get; set; } = 30;

    /// <summary>Commands a sandbox may have waiting and running at once; more get 429 (sandbox-busy).</summary>
    [Range(1, 1000)]
    public int MaxPendingCommands { get; set; } = 8;

    /// <summary>The largest file PUT /sandboxes/{id}/files/{path} takes (bytes; the gateway's route lets through this default).</summary>
    [Range(1, 1024L * 1024 * 1024)]
    public long MaxFileBytes { get; set; } = Contracts.LimitDefaults.SandboxFileBytes;

    /// <summary>The largest code a call takes (bytes of UTF-8).</summary>
    [Range(1, 16L * 1024 * 1024)]
    public int MaxCodeBytes { get; set; } = 1024 * 1024;
}
