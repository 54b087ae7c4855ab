using System.Diagnostics.Metrics;
using Executor.Sandbox;
using Microsoft.Extensions.Options;

namespace Executor.Prewarm.Pool;

/// <summary>
/// One warm pool per runtime of the host's <see cref="RuntimeCatalog"/>. The default runtime's pool keeps
/// Pool:TargetSize ready (POST /prewarm?count=N changes it); every other runtime's keeps its own PoolSize (the data
/// runtime's: 1), raised alike by demand. A runtime whose PoolSize is 0 still gets a pool, which fills only on demand.
/// </summary>
public sealed class WarmPools
{
    private readonly Dictionary<string, WarmPool> _pools;

    public WarmPools(
        RuntimeCatalog catalog,
        IContainerEngine engine,
        ContainerJanitor janitor,
        SandboxRuntime runtime,
        SandboxInstance instance,
        LauncherFiles launcher,
        IOptions<SandboxOptions> sandboxOptions,
        IOptions<PoolOptions> options,
        TimeProvider time,
        PoolMetrics metrics,
        ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger<WarmPool>();
        All = [.. catalog.All.Select(language => new WarmPool(language, language.IsDefault ? options.Value.TargetSize : language.PoolSize,
            engine, janitor, runtime, instance, launcher, sandboxOptions, options.Value, time, metrics, logger))];
        _pools = All.ToDictionary(p => p.Language.Id, StringComparer.Ordinal);
        Default = All[0];
        metrics.Meter.CreateObservableGauge("executor.pool.size",
            () => All.Select(p => new Measurement<int>(p.Ready, new KeyValuePair<string, object?>("executor.runtime", p.Language.Id))),
            "{container}", "Containers ready to lease");
        metrics.Meter.CreateObservableGauge("executor.pool.starting",
            () => All.Select(p => new Measurement<int>(p.Starting, new KeyValuePair<string, object?>("executor.runtime", p.Language.Id))),
            "{container}", "Containers being started");
    }

    /// <summary>Every pool, the default runtime's first.</summary>
    public IReadOnlyList<WarmPool> All { get; }

    /// <summary>The default runtime's pool.</summary>
    public WarmPool Default { get; }

    /// <summary>The pool of that runtime (the default's for null); null when the host has no such runtime.</summary>
    public WarmPool? Find(string? runtime) => runtime is null ? Default : _pools.GetValueOrDefault(runtime);

    /// <summary>Whether the container is one of the pools': ready, or still starting.</summary>
    public bool Holds(string containerId) => All.Any(p => p.Holds(containerId));

    /// <summary>Whether the container is a pool's, by its id or, while it is being created, by its name.</summary>
    public bool Holds(Docker.DotNet.Models.ContainerListResponse container) =>
        Holds(container.ID) || container.Names.Any(n => All.Any(p => p.IsCreating(n.TrimStart('/'))));
}
