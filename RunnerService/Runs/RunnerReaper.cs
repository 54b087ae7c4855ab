using System.Diagnostics.Metrics;
using Docker.DotNet.Models;
using Executor.Sandbox;
using Microsoft.Extensions.Options;

namespace Executor.Runner.Runs;

/// <summary>
/// The runner is responsible for every container it has taken: leased warm ones and the cold ones it started. One
/// runner serves a deployment, so any such container this process does not hold (for a run, a stateful sandbox, a slot
/// or a probe) is an orphan (a crashed runner's).
/// </summary>
public sealed class RunnerReaper(
    IContainerEngine engine,
    ContainerJanitor janitor,
    IOptions<SandboxOptions> options,
    SandboxInstance instance,
    TimeProvider time,
    IMeterFactory meterFactory,
    ILogger<RunnerReaper> logger,
    RunRegistry runs,
    Executor.Runner.Sandboxes.SandboxRegistry sandboxes,
    WarmSlots slots,
    ContainerSource containers,
    RuntimeProbe probe) : OrphanReaper(engine, janitor, options, instance, time, meterFactory, logger)
{
    protected override bool IsResponsibleFor(ContainerListResponse container) => SandboxLabels.IsRunners(container);

    protected override bool IsOwned(ContainerListResponse container) =>
        runs.ContainerIds.Contains(container.ID) || sandboxes.Holds(container.ID) || slots.Holds(container.ID) || probe.Holds(container.ID)
        || containers.IsStarting(container);
}
