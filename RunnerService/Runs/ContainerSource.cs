using Docker.DotNet;
using Executor.Sandbox;
using Microsoft.Extensions.Options;

namespace Executor.Runner.Runs;

/// <summary>
/// Where a run's or a stateful sandbox's container comes from: a warm one of its runtime (an attached slot for the
/// default runtime, else a lease from its pool), or a cold one started with its own limits. Both kinds of work take
/// containers this one way, so a sandbox is never built differently from a run's.
/// </summary>
public sealed class ContainerSource(
    IContainerEngine engine,
    PrewarmClient prewarm,
    WarmSlots slots,
    SandboxInstance instance,
    SandboxRuntime runtime,
    LauncherFiles launcher,
    IOptions<SandboxOptions> sandboxOptions,
    IOptions<RunnerOptions> runnerOptions,
    TimeProvider time)
{
    /// <summary>
    /// A warm container of the runtime, or a cold one started with <paramref name="limits"/> (pool containers are built with
    /// their runtime's memory limit, so another memory goes cold; the timeout travels with the job, so any fits).
    /// </summary>
    public async Task<AcquiredContainer> AcquireAsync(
        string sessionId, LanguageRuntime language, SandboxLimits limits, CancellationToken cancellationToken, Egress.EgressLease? egress = null)
    {
        using var activity = SandboxRunner.ActivitySource.StartActivity("acquire container");
        activity?.SetTag("executor.runtime", language.Id);
        var options = runnerOptions.Value;
        activity?.SetTag("executor.egress", egress is not null);
        // The egress proxy's directory is mounted when the container is created, so a container with egress is always cold.
        if (options.UseWarmPool && limits.MemoryMb == language.MemoryMb && egress is null)
        {
            var slot = language.IsDefault ? slots.TryTake() : null;
            // Not cancelled half-way (the call is bounded by its own timeout): a granted lease must reach this process.
            var leased = slot?.ContainerId
                ?? await prewarm.TryLeaseAsync(options.EmptyPoolWaitMs, CancellationToken.None, language.IsDefault ? null : language.Id);
            if (leased is not null)
            {
                activity?.SetTag("executor.warm", true);
                activity?.SetTag("executor.container_id", ContainerIds.Abbreviate(leased));
                activity?.SetTag("executor.attached_slot", slot is not null);
                return new AcquiredContainer(leased, Warm: true, slot?.Stream, slot?.Read);
            }
        }
        activity?.SetTag("executor.warm", false);
        cancellationToken.ThrowIfCancellationRequested();
        return new AcquiredContainer(await StartColdAsync(sessionId, language, limits, egress?.Directory), Warm: false);
    }

    /// <summary>Never cancelled half-way (see <see cref="IContainerEngine"/>): the caller removes what it returns.</summary>
    /// <param name="egressDirectory">The run's egress proxy directory, mounted read-only in the container (egress is never warm: the mount is made at creation).</param>
    public async Task<string> StartColdAsync(string sessionId, LanguageRuntime language, SandboxLimits limits, string? egressDirectory = null)
    {
        var name = RunName(sessionId);
        var spec = SandboxSpec.Create(sandboxOptions.Value, language, runtime.Name, limits, instance, SandboxLabels.ColdRole, time, sessionId, name,
            egressDirectory, launcher);
        // Known by its name from before it exists until the caller holds its id: on a loaded engine, creating and
        // starting it can outlast two of the reaper's sweeps, which would otherwise take it for an orphan mid-start.
        _starting[name] = true;
        try
        {
            return await engine.StartAsync(spec);
        }
        finally
        {
            _starting.TryRemove(name, out _);
        }
    }

    /// <summary>Whether the container is one this source is creating or starting (its id not yet handed to anyone).</summary>
    public bool IsStarting(Docker.DotNet.Models.ContainerListResponse container) =>
        container.Names.Any(n => _starting.ContainsKey(n.TrimStart('/')));

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _starting = new();

    /// <summary>Asks for used attached slots to be filled again (when a run ends, so refilling never competes with it).</summary>
    public void Replenish() => slots.Replenish();

    private static string RunName(string sessionId) =>
        $"{SandboxLabels.RunNamePrefix}{sessionId}-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4))}";
}

/// <summary>A container for a run or a sandbox; from an attached slot, with its stream open and a read of its output waiting.</summary>
public sealed record AcquiredContainer(string ContainerId, bool Warm, MultiplexedStream? Stream = null, PendingRead? Read = null);
