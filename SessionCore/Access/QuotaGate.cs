using System.Globalization;
using System.Threading.RateLimiting;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Executor.SessionCore.Access;

/// <summary>
/// A submission against its caller's quotas, the same on every surface: ceilings on timeout_seconds and memory_mb (400 bad-limit naming the key's ceiling), runs per minute
/// (one permit per run, not per request: a batch of 20 takes 20), and the problems for what the store refuses
/// atomically with the insert: sessions queued and running at once, and bytes stored (429 with Retry-After).
/// </summary>
public sealed class QuotaGate(IOptions<AuthOptions> options, IOptions<SessionServiceOptions> sessions) : IDisposable
{
    public const int RetryAfterSeconds = 2;

    /// <summary>The sliding window of runs_per_minute, partitioned by key (and its limit, should the key's quota differ).</summary>
    private readonly PartitionedRateLimiter<Caller> _runs = PartitionedRateLimiter.Create<Caller, (string, int)>(caller =>
    {
        var limit = caller.Quotas.RunsPerMinute ?? options.Value.Defaults.RunsPerMinute;
        return RateLimitPartition.GetSlidingWindowLimiter((caller.Id, limit), _ => new SlidingWindowRateLimiterOptions
        {
            PermitLimit = limit,
            Window = TimeSpan.FromSeconds(options.Value.RateWindowSeconds),
            SegmentsPerWindow = 6,
            QueueLimit = 0,
        });
    });

    /// <summary>
    /// The options a run gets within the caller's ceilings. What the request asks for must fit (else a 400 problem that
    /// names the ceiling); what it leaves to the runtime's defaults is lowered to the ceiling where the default is above
    /// it (the data runtime's 384 MiB for a key capped at 128 MiB runs with 128 MiB).
    /// </summary>
    /// <param name="runtimeMemoryMb">The memory the chosen runtime gives a run that names none, if known.</param>
    public static (RunOptions Options, ProblemDetails? Problem) ApplyCeilings(Caller caller, RunOptions requested, int? runtimeMemoryMb)
    {
        if (requested.TimeoutSeconds is { } timeout && caller.Quotas.MaxTimeoutSeconds is { } maxTimeout && timeout > maxTimeout)
        {
            return (requested, Ceiling("timeout_seconds", timeout, maxTimeout, "seconds"));
        }
        // A graded run's cases and compile stage are each a run's worth of time: the key's ceiling holds for each of them.
        if (caller.Quotas.MaxTimeoutSeconds is { } caseCeiling
            && (requested.Grading?.Cases ?? []).Select(c => c.TimeoutSeconds).Append(requested.Build?.CompileTimeoutSeconds)
                .FirstOrDefault(t => t > caseCeiling) is { } caseTimeout)
        {
            return (requested, Ceiling("timeout_seconds", (int)Math.Ceiling(caseTimeout), caseCeiling, "seconds"));
        }
        if (requested.MemoryMb is { } memory && caller.Quotas.MaxMemoryMb is { } maxMemory && memory > maxMemory)
        {
            return (requested, Ceiling("memory_mb", memory, maxMemory, "MiB"));
        }
        var effective = requested;
        if (requested.TimeoutSeconds is null && caller.Quotas.MaxTimeoutSeconds is { } timeoutCeiling && timeoutCeiling < SessionSubmitter.DefaultTimeoutSeconds)
        {
            effective = effective with { TimeoutSeconds = timeoutCeiling };
        }
        if (requested.MemoryMb is null && caller.Quotas.MaxMemoryMb is { } memoryCeiling && runtimeMemoryMb > memoryCeiling)
        {
            effective = effective with { MemoryMb = memoryCeiling };
        }
        return (effective, null);
    }

    /// <summary>Takes one run from the caller's runs_per_minute; a 429 problem (and its Retry-After) when none is left.</summary>
    public (ProblemDetails? Problem, int RetryAfterSeconds) TakeRun(Caller caller)
    {
        using var lease = _runs.AttemptAcquire(caller);
        if (lease.IsAcquired)
        {
            return (null, 0);
        }
        var retry = lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromSeconds(10);
        var seconds = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds));
        var limit = caller.Quotas.RunsPerMinute ?? options.Value.Defaults.RunsPerMinute;
        return (Problems.Create(StatusCodes.Status429TooManyRequests, "quota-runs-per-minute", "Too many runs",
            $"This key may start {limit} runs per {options.Value.RateWindowSeconds} s (each submission of a batch counts); retry in {seconds} s."), seconds);
    }

    /// <summary>The limits the store checks with the insert: sessions unfinished (running plus queued) and bytes stored.</summary>
    public static (long? MaxUnfinished, long? MaxStoredBytes) StoreLimits(Caller caller) => (
        caller.Quotas.MaxConcurrentRuns is { } running && caller.Quotas.MaxQueued is { } queued ? (long)running + queued : null,
        caller.Quotas.MaxStoredMb is { } mb ? mb * 1024L * 1024 : null);

    /// <summary>The problem for a session the store did not admit.</summary>
    public ProblemDetails Refused(Caller caller, SessionAdmission admission)
    {
        var maxRunning = caller.Quotas.MaxConcurrentRuns ?? 0;
        var maxQueued = caller.Quotas.MaxQueued ?? 0;
        return admission switch
        {
            SessionAdmission.OwnerUnfinished when maxQueued == 0 => Problems.Create(StatusCodes.Status429TooManyRequests, "quota-concurrent-runs",
                "Too many runs at once", $"This key may run {maxRunning} at once, and has that many running; retry in {RetryAfterSeconds} s."),
            SessionAdmission.OwnerUnfinished => Problems.Create(StatusCodes.Status429TooManyRequests, "quota-queued", "Too many sessions waiting",
                $"This key may have {maxQueued} sessions waiting to run, and has that many; retry in {RetryAfterSeconds} s."),
            SessionAdmission.OwnerStorage => Problems.Create(StatusCodes.Status429TooManyRequests, "quota-storage", "Too much stored",
                $"This key's sessions hold as much as it may store ({caller.Quotas.MaxStoredMb} MiB: files, stdin, output and results). "
                + $"Sessions are deleted {sessions.Value.RetentionHours} h after they end, which frees their share."),
            _ => Problems.QueueFull(RetryAfterSeconds),
        };
    }

    private static ProblemDetails Ceiling(string field, int requested, int ceiling, string unit) => Problems.Create(
        StatusCodes.Status400BadRequest, "bad-limit", $"Invalid {field}",
        $"'{field}' is {requested.ToString(CultureInfo.InvariantCulture)} {unit}, above this key's ceiling of {ceiling.ToString(CultureInfo.InvariantCulture)} {unit}.");

    public void Dispose() => _runs.Dispose();
}
