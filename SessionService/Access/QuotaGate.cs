using System.Globalization;
using Executor.Session.Sessions;
using Executor.Session.Storage;
using Executor.Session.Uploads;
using Microsoft.AspNetCore.Mvc;

namespace Executor.Session.Access;

/// <summary>
/// A submission against its caller's quotas: ceilings on timeout_seconds and memory_mb (400 bad-limit naming the key's
/// ceiling), and sessions queued and running at once, counted in the store so that they hold across replicas (429 with
/// Retry-After). Runs per minute are the rate limiter's (<see cref="AccessServiceCollectionExtensions.RunsPolicy"/>).
/// </summary>
public sealed class QuotaGate(IApiKeyStore store)
{
    public const int RetryAfterSeconds = 2;

    /// <summary>A problem when the options pass a ceiling of the caller's; null when they fit.</summary>
    public static ProblemDetails? CheckCeilings(Caller caller, RunOptions options)
    {
        if (options.TimeoutSeconds is { } timeout && caller.Quotas.MaxTimeoutSeconds is { } maxTimeout && timeout > maxTimeout)
        {
            return Ceiling("timeout_seconds", timeout, maxTimeout, "seconds");
        }
        if (options.MemoryMb is { } memory && caller.Quotas.MaxMemoryMb is { } maxMemory && memory > maxMemory)
        {
            return Ceiling("memory_mb", memory, maxMemory, "MiB");
        }
        return null;
    }

    /// <summary>
    /// A 429 problem when the caller has as many sessions unfinished as it may (its concurrent runs plus its queued
    /// sessions); null when there is room. Its sessions beyond its concurrency wait in the queue: a claim takes none of
    /// them while it has that many running.
    /// </summary>
    public async Task<ProblemDetails?> CheckUnfinishedAsync(Caller caller, CancellationToken cancellationToken)
    {
        long maxRunning = caller.Quotas.MaxConcurrentRuns ?? int.MaxValue;
        long maxQueued = caller.Quotas.MaxQueued ?? int.MaxValue;
        var (queued, running) = await store.CountUnfinishedAsync(caller.Id, cancellationToken);
        if (queued + running < maxRunning + maxQueued)
        {
            return null;
        }
        return maxQueued == 0
            ? Problems.Create(StatusCodes.Status429TooManyRequests, "quota-concurrent-runs", "Too many runs at once",
                $"This key may run {maxRunning} at once, and has that many running; retry in {RetryAfterSeconds} s.")
            : Queued(maxQueued);
    }

    private static ProblemDetails Queued(long maxQueued) => Problems.Create(StatusCodes.Status429TooManyRequests, "quota-queued", "Too many sessions waiting",
        $"This key may have {maxQueued} sessions waiting to run, and has that many; retry in {RetryAfterSeconds} s.");

    private static ProblemDetails Ceiling(string field, int requested, int ceiling, string unit) => Problems.Create(
        StatusCodes.Status400BadRequest, "bad-limit", $"Invalid {field}",
        $"'{field}' is {requested.ToString(CultureInfo.InvariantCulture)} {unit}, above this key's ceiling of {ceiling.ToString(CultureInfo.InvariantCulture)} {unit}.");
}
