using System.Diagnostics.Metrics;
using Docker.DotNet.Models;
using Executor.Sandbox;
using Microsoft.Extensions.Options;

namespace Executor.Prewarm.Pool;

/// <summary>
/// The pool is responsible for containers that still carry a pool name: once leased they are renamed and become
/// the runner's. Any pool-named container the pool does not hold (ready or starting) is an orphan: an earlier
/// instance's, or one whose start failed half-way.
/// </summary>
public sealed class PoolReaper(
    IContainerEngine engine,
    ContainerJanitor janitor,
    IOptions<SandboxOptions> options,
    SandboxInstance instance,
    TimeProvider time,
    IMeterFactory meterFactory,
    ILogger<PoolReaper> logger,
    WarmPools pools) : OrphanReaper(engine, janitor, options, instance, time, meterFactory, logger)
{
    protected override bool IsResponsibleFor(ContainerListResponse container) =>
        container.Labels.TryGetValue(SandboxLabels.Role, out var role) && role == SandboxLabels.PoolRole
        && SandboxLabels.HasName(container, SandboxLabels.PoolNamePrefix);

    protected override bool IsOwned(ContainerListResponse container) => pools.Holds(container);
}
