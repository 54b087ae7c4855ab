using System.Security.Cryptography;
using System.Threading.Channels;
using Executor.Sandbox;
using Microsoft.Extensions.Options;

namespace Executor.Prewarm.Pool;

/// <summary>
/// Started, single-use sandbox containers of one runtime whose launcher has booted (and pre-imported the runtime's
/// packages) and waits for a script. A lease hands one
/// over for good: it is renamed (so a restarted pool never sweeps it up) and the runner removes it after its one
/// run. The pool never gets a container back.
/// </summary>
public sealed partial class WarmPool
{
    private readonly IContainerEngine _engine;
    private readonly ContainerJanitor _janitor;
    private readonly SandboxRuntime _runtime;
    private readonly SandboxInstance _instance;
    private readonly LauncherFiles _launcher;
    private readonly IOptions<SandboxOptions> _sandboxOptions;
    private readonly PoolOptions _options;
    private readonly TimeProvider _time;
    private readonly PoolMetrics _metrics;
    private readonly ILogger<WarmPool> _logger;
    public static readonly System.Diagnostics.ActivitySource ActivitySource = new(PoolMetrics.MeterName);

    private readonly Channel<PooledContainer> _ready;
    private readonly Channel<bool> _refillRequests = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _held = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _creating = new();
    private int _starting;
    private int _waiting; // leases waiting for a container
    private volatile bool _stopping;
    private int _target;
    private readonly PoolDemand _demand;

    public WarmPool(
        LanguageRuntime language,
        int targetSize,
        IContainerEngine engine,
        ContainerJanitor janitor,
        SandboxRuntime runtime,
        SandboxInstance instance,
        LauncherFiles launcher,
        IOptions<SandboxOptions> sandboxOptions,
        PoolOptions options,
        TimeProvider time,
        PoolMetrics metrics,
        ILogger<WarmPool> logger)
    {
        Language = language;
        _engine = engine;
        _janitor = janitor;
        _runtime = runtime;
        _instance = instance;
        _launcher = launcher;
        _sandboxOptions = sandboxOptions;
        _options = options;
        _time = time;
        Bursts = new LeaseBursts(time);
        _metrics = metrics;
        _logger = logger;
        _target = Math.Min(targetSize, _options.MaxSize);
        var hostHolds = HostCapacity.Sandboxes(SandboxLimits.Defaults(sandboxOptions.Value, language).MemoryMb);
        _demand = new PoolDemand(time, Math.Min(_options.MaxDemandSize > 0 ? _options.MaxDemandSize : hostHolds, _options.MaxSize));
        // Never more ready containers than the largest target: filling stops at the target anyway.
        _ready = Channel.CreateBounded<PooledContainer>(new BoundedChannelOptions(Math.Max(1, _options.MaxSize))
        {
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    /// <summary>The runtime this pool's containers are of.</summary>
    public LanguageRuntime Language { get; }

    public int Ready => _ready.Reader.Count;

    public int Starting => Volatile.Read(ref _starting);

    /// <summary>
    /// How many containers the pool keeps ready: the configured (or POST /prewarm'd) target, raised to what the recent
    /// traffic needs (<see cref="PoolDemand"/>, at most <see cref="PoolDemand.Ceiling"/>), at most <see cref="PoolOptions.MaxSize"/>.
    /// </summary>
    public int Target => Math.Clamp(Math.Max(Volatile.Read(ref _target), _demand.Needed()), 0, _options.MaxSize);

    /// <summary>The target as configured or last asked for, before demand raises it.</summary>
    public int ConfiguredTarget => Volatile.Read(ref _target);

    public PoolDemand Demand => _demand;

    public int MinSize => _options.MinSize;

    public int MaxSize => _options.MaxSize;

    public PoolCounts Counts { get; } = new();

    /// <summary>Whether the container is the pool's: ready, or still starting.</summary>
    public bool Holds(string containerId) => _held.ContainsKey(containerId);

    /// <summary>Whether the pool is creating a container of this name (its id not known yet).</summary>
    public bool IsCreating(string name) => _creating.ContainsKey(name);

    internal ChannelReader<bool> RefillRequests => _refillRequests.Reader;

    /// <summary>
    /// Takes a ready container, waiting up to <paramref name="wait"/> for one when the pool is empty; null when none
    /// came in time (the caller starts a cold one).
    /// </summary>
    public async Task<string?> LeaseAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        if (_stopping)
        {
            return null; // every container left is being removed
        }
        RequestRefill();
        if (!_ready.Reader.TryRead(out var container))
        {
            // A container already booting is ready sooner than a cold one would be (a cold start is the same create, start
            // and boot, begun later) and costs the engine nothing more: wait for it, unless earlier leases wait for
            // every one that is booting. Only a lease that nothing booting can serve goes cold at once.
            var waiters = Interlocked.Increment(ref _waiting);
            try
            {
                if (wait <= TimeSpan.Zero && waiters <= Starting)
                {
                    wait = StartingWait;
                }
                if (wait <= TimeSpan.Zero)
                {
                    return Missed();
                }
                using var timeout = new CancellationTokenSource(wait, _time);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
                try
                {
                    container = await _ready.Reader.ReadAsync(linked.Token);
                }
                catch (OperationCanceledException) when (timeout.IsCancellationRequested)
                {
                    return Missed();
                }
            }
            finally
            {
                Interlocked.Decrement(ref _waiting);
            }
        }
        Counts.Hit();
        _metrics.Hit(Language.Id);
        _demand.Leased();
        System.Diagnostics.Activity.Current?.SetTag("executor.container_id", ContainerIds.Abbreviate(container.Id));
        _held.TryRemove(container.Id, out _);
        Bursts.Leased();
        // The runner that takes it renames it (LeasedNames), which marks it as no longer the pool's: a restarted pool
        // never sweeps it up mid-run.
        return container.Id;
    }

    /// <summary>
    /// The longest a lease waits for a container that is booting: twice the measured time a container takes to be ready
    /// (the one it waits for started at most that long ago), within [250 ms, 2 s].
    /// </summary>
    private TimeSpan StartingWait => TimeSpan.FromSeconds(Math.Clamp(2 * _demand.RefillSeconds, 0.25, 2));

    private string? Missed()
    {
        Counts.Miss();
        _metrics.Miss(Language.Id);
        _demand.Leased(); // a run that wanted one: demand all the same
        return null;
    }

    /// <summary>When leases came: the filler holds back while they come in quick succession (a burst).</summary>
    internal LeaseBursts Bursts { get; }

    /// <summary>Sets how many containers the pool keeps ready (at most <see cref="PoolOptions.MaxSize"/>) and fills up to it.</summary>
    public int Resize(int target)
    {
        Volatile.Write(ref _target, Math.Clamp(target, 0, _options.MaxSize));
        RequestRefill();
        return ConfiguredTarget;
    }

    /// <summary>Asks the background filler to top the pool up; returns at once.</summary>
    public void RequestRefill() => _refillRequests.Writer.TryWrite(true);

    /// <summary>Starts containers until ready + starting reaches the target, at most <see cref="PoolOptions.RefillConcurrency"/> at a time.</summary>
    internal async Task FillAsync(CancellationToken cancellationToken)
    {
        var missing = Target - Ready - Starting;
        if (missing <= 0)
        {
            return;
        }
        await Parallel.ForAsync(0, missing, new ParallelOptions
        {
            MaxDegreeOfParallelism = _options.RefillConcurrency,
            CancellationToken = cancellationToken,
        }, async (slot, ct) =>
        {
            if (Ready + Starting >= Target)
            {
                return;
            }
            Interlocked.Increment(ref _starting);
            var started = _time.GetTimestamp();
            using var activity = ActivitySource.StartActivity("start pool container");
            try
            {
                var sandbox = _sandboxOptions.Value;
                var spec = SandboxSpec.Create(sandbox, Language, _runtime.Name, SandboxLimits.Defaults(sandbox, Language), _instance,
                    SandboxLabels.PoolRole, _time, name: SandboxLabels.PoolNamePrefix + Suffix(), launcher: _launcher);
                activity?.SetTag("executor.runtime", Language.Id);
                var id = await StartBootedAsync(spec, ct);
                activity?.SetTag("executor.container_id", ContainerIds.Abbreviate(id));
                if (_stopping || !_ready.Writer.TryWrite(new PooledContainer(id, _time.GetUtcNow())))
                {
                    _held.TryRemove(id, out _);
                    await _janitor.RemoveAsync(id, now: true);
                }
                _metrics.Refilled(Language.Id, _time.GetElapsedTime(started));
                _demand.Refilled(_time.GetElapsedTime(started));
            }
            finally
            {
                Interlocked.Decrement(ref _starting);
            }
        });
    }

    /// <summary>
    /// Starts a container and returns once its launcher has booted: a container still booting Python would make the
    /// run that leases it wait, and would compete for the CPU with the runs around it.
    /// </summary>
    private async Task<string> StartBootedAsync(Docker.DotNet.Models.CreateContainerParameters spec, CancellationToken cancellationToken)
    {
        // Create, attach and start are never cancelled half-way (see IContainerEngine): a stop waits for them, then
        // removes the container, so a removal never races the engine's own start of it.
        // Known by its name while the engine creates it (a slow create must not look like an orphan to the reaper).
        var name = spec.Name ?? "";
        _creating[name] = true;
        string id;
        try
        {
            id = await _engine.CreateAsync(spec);
            _held[id] = true;
        }
        finally
        {
            _creating.TryRemove(name, out _);
        }
        try
        {
            using var watcher = await _engine.WatchAsync(id, CancellationToken.None);
            await _engine.StartCreatedAsync(id);
            using var boot = new CancellationTokenSource(TimeSpan.FromSeconds(_options.BootTimeoutSeconds), _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(boot.Token, cancellationToken);
            if (!await LauncherReadiness.WaitAsync(watcher, linked.Token))
            {
                throw new InvalidOperationException($"Pool container {ContainerIds.Abbreviate(id)} ended before its launcher was ready");
            }
            return id;
        }
        catch
        {
            _held.TryRemove(id, out _);
            await _janitor.RemoveAsync(id, now: true);
            throw;
        }
    }

    /// <summary>
    /// Replaces containers that have waited longer than the maximum age, any beyond the target, and any the engine no
    /// longer runs (an engine restart kills them all): one list call, whatever the pool's size.
    /// </summary>
    internal async Task RecycleAsync(CancellationToken cancellationToken)
    {
        if (Ready == 0)
        {
            return;
        }
        var labels = SandboxLabels.OfHost(_sandboxOptions.Value);
        labels[SandboxLabels.Role] = SandboxLabels.PoolRole;
        labels[SandboxLabels.Runtime] = Language.Id;
        var running = (await _engine.ListAsync(labels, cancellationToken)).Where(c => c.State == "running").Select(c => c.ID).ToHashSet();
        var oldest = _time.GetUtcNow() - TimeSpan.FromMinutes(_options.MaxAgeMinutes);
        var keep = new List<PooledContainer>();
        var drop = new List<PooledContainer>();
        for (var n = Ready; n > 0 && _ready.Reader.TryRead(out var container); n--)
        {
            (container.StartedAt >= oldest && keep.Count < Target && running.Contains(container.Id) ? keep : drop).Add(container);
        }
        foreach (var container in keep)
        {
            _ready.Writer.TryWrite(container);
        }
        foreach (var container in drop)
        {
            _held.TryRemove(container.Id, out _);
            _ = _janitor.RemoveAsync(container.Id, now: true);
            Counts.Recycle();
            _metrics.Recycle(Language.Id);
        }
        if (drop.Count > 0)
        {
            LogRecycled(drop.Count, Language.Id);
        }
    }

    /// <summary>
    /// Shutdown: no more leases; every container still in the pool goes to the janitor, which removes them all in
    /// parallel before the process ends. Containers still starting were waited for (their fill has ended) and went
    /// the same way; leased ones are the runner's, which removes them.
    /// </summary>
    internal void Drain()
    {
        _stopping = true;
        while (_ready.Reader.TryRead(out var container))
        {
            _held.TryRemove(container.Id, out _);
            _ = _janitor.RemoveAsync(container.Id, now: true);
        }
    }

    private static string Suffix() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

    [LoggerMessage(Level = LogLevel.Information, Message = "Replaced {Count} pool containers of {Runtime}")]
    private partial void LogRecycled(int count, string runtime);

    private sealed record PooledContainer(string Id, DateTimeOffset StartedAt);
}
