using System.ComponentModel.DataAnnotations;
using Executor.Contracts;
using Microsoft.Extensions.Options;

namespace Executor.SessionCore.Access;

/// <summary>Who may run code ("Auth" section). EXECUTOR_OPERATOR_KEY gives the first operator key.</summary>
public sealed class AuthOptions
{
    public const string Section = "Auth";

    /// <summary>
    /// "required": every caller presents a key. "open" (local development): callers without a key are let in only from
    /// loopback, as one "anonymous" caller with the default quotas. Default: required when an operator key is set,
    /// else open.
    /// </summary>
    [RegularExpression("^(required|open)$")]
    public string? Mode { get; set; }

    /// <summary>The first operator key (from EXECUTOR_OPERATOR_KEY): any secret of at least 16 characters.</summary>
    [MinLength(16)]
    public string? OperatorKey { get; set; }

    /// <summary>Quotas of callers whose key sets none, and of the anonymous caller of the open mode.</summary>
    [ValidateObjectMembers]
    public DefaultQuotas Defaults { get; set; } = new();

    /// <summary>The window of runs_per_minute, in seconds (60; shorter in tests).</summary>
    [Range(1, 3600)]
    public int RateWindowSeconds { get; set; } = 60;

    /// <summary>Requests with a missing or wrong key one address may make per minute before it is slowed down (429).</summary>
    [Range(1, 10_000)]
    public int FailuresPerMinute { get; set; } = 30;

    /// <summary>Proxies whose X-Forwarded-For is believed (the gateway): loopback always; more as addresses or CIDR networks.</summary>
    public List<string> TrustedProxies { get; set; } = [];

    public bool Required => (Mode ?? (string.IsNullOrEmpty(OperatorKey) ? "open" : "required")) == "required";

    public sealed class DefaultQuotas
    {
        [Range(1, 10_000)]
        public int MaxConcurrentRuns { get; set; } = 4;

        [Range(0, 100_000)]
        public int MaxQueued { get; set; } = 64;

        [Range(1, 100_000)]
        public int RunsPerMinute { get; set; } = 120;

        [Range(1, 3600)]
        public int MaxTimeoutSeconds { get; set; } = LimitDefaults.MaxTimeoutSeconds;

        [Range(16, 65536)]
        public int MaxMemoryMb { get; set; } = LimitDefaults.MaxMemoryMb;

        /// <summary>What one key's sessions may hold in the store until they are purged (Sessions:RetentionHours after they end).</summary>
        [Range(1, 1_048_576)]
        public int MaxStoredMb { get; set; } = 1024;

        /// <summary>How many stateful sandboxes one key may have alive at once.</summary>
        [Range(0, 100_000)]
        public int MaxSandboxes { get; set; } = 5;

        /// <summary>The longest one key's sandbox may live (its lifetime_seconds, and its idle timeout, at most this).</summary>
        [Range(10, 7 * 24 * 3600)]
        public int MaxSandboxLifetimeSeconds { get; set; } = 24 * 3600;

        public Quotas ToQuotas() => new(MaxConcurrentRuns, MaxQueued, RunsPerMinute, MaxTimeoutSeconds, MaxMemoryMb, MaxStoredMb,
            MaxSandboxes, MaxSandboxLifetimeSeconds);
    }
}
