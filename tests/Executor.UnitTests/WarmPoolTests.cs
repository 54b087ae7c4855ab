using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Executor.Prewarm.Pool;
using Executor.Sandbox;

namespace Executor.UnitTests;

/// <summary>The pool's bookkeeping, on a fake engine and a fake clock; the real engine is in the end-to-end suite.</summary>
/// <remarks>A listener samples the pool's traces, so the traced paths run as they do under a collector (CI once met one
/// registered by another test class: a short fake container id broke the span's tag).</remarks>
public sealed class WarmPoolTests : IDisposable
{
    private readonly System.Diagnostics.ActivityListener _listener = new()
    {
        ShouldListenTo = source => source.Name == PoolMetrics.MeterName,
        Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) =>
            System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
    };

    public WarmPoolTests() => System.Diagnostics.ActivitySource.AddActivityListener(_listener);

    public void Dispose() => _listener.Dispose();

    [Fact]
    public async Task Containers_older_than_the_maximum_age_are_replaced()
    {
        var (pool, engine, time) = Create(new PoolOptions { TargetSize = 2, MaxAgeMinutes = 30 });
        await pool.FillAsync(CancellationToken.None);
        Assert.Equal(2, pool.Ready);

        time.Advance(TimeSpan.FromMinutes(31));
        await pool.RecycleAsync(CancellationToken.None);

        Assert.Equal(0, pool.Ready);
        Assert.Equal(2, engine.Removed.Count);
        Assert.Equal(2, pool.Counts.Recycled);
        await pool.FillAsync(CancellationToken.None);
        Assert.Equal(2, pool.Ready);
    }

    [Fact]
    public async Task Containers_the_engine_no_longer_runs_leave_the_pool()
    {
        var (pool, engine, _) = Create(new PoolOptions { TargetSize = 2 });
        await pool.FillAsync(CancellationToken.None);
        engine.Removed.Add("c1"); // gone with an engine restart

        await pool.RecycleAsync(CancellationToken.None);

        Assert.Equal(1, pool.Ready);
        Assert.Equal("c2", await pool.LeaseAsync(TimeSpan.Zero, CancellationToken.None));
    }

    [Fact]
    public async Task A_lease_takes_a_ready_container_and_an_empty_pool_is_a_miss()
    {
        var (pool, _, _) = Create(new PoolOptions { TargetSize = 1 });
        await pool.FillAsync(CancellationToken.None);

        var first = await pool.LeaseAsync(TimeSpan.Zero, CancellationToken.None);
        var second = await pool.LeaseAsync(TimeSpan.Zero, CancellationToken.None);

        Assert.NotNull(first);
        Assert.Null(second);
        Assert.Equal((1, 1), (pool.Counts.Hits, pool.Counts.Misses));
    }

    [Fact]
    public async Task A_lease_waits_for_a_booting_container_and_one_that_none_can_serve_misses_at_once()
    {
        var (pool, engine, time) = Create(new PoolOptions { TargetSize = 1, RefillConcurrency = 1 });
        engine.Booting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var fill = pool.FillAsync(CancellationToken.None);
        while (pool.Starting == 0)
        {
            await Task.Delay(5);
        }

        // The booting container is promised to the first lease; the second has nothing to wait for: cold, at once.
        var first = pool.LeaseAsync(TimeSpan.Zero, CancellationToken.None);
        var second = await pool.LeaseAsync(TimeSpan.Zero, CancellationToken.None);
        Assert.Null(second);
        Assert.False(first.IsCompleted);

        engine.Booting.SetResult();
        await fill;
        Assert.Equal("c1", await first);
        Assert.Equal((1, 1), (pool.Counts.Hits, pool.Counts.Misses));

        // A container that boots for longer than twice the measured refill time is given up on: the lease goes cold.
        engine.Booting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        fill = pool.FillAsync(CancellationToken.None);
        while (pool.Starting == 0)
        {
            await Task.Delay(5);
        }
        var late = pool.LeaseAsync(TimeSpan.Zero, CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(2 * pool.Demand.RefillSeconds + 0.3));
        Assert.Null(await late);
        engine.Booting.SetResult();
        await fill;
    }

    [Fact]
    public async Task Resizing_is_bounded_by_the_maximum()
    {
        var (pool, _, _) = Create(new PoolOptions { TargetSize = 2, MaxSize = 5 });

        Assert.Equal(5, pool.Resize(50));
        await pool.FillAsync(CancellationToken.None);
        Assert.Equal(5, pool.Ready);
    }

    [Fact]
    public async Task Steady_traffic_raises_the_target_to_what_it_needs_and_quiet_lowers_it_again()
    {
        var (pool, _, time) = Create(new PoolOptions { TargetSize = 2, MaxSize = 8, MaxDemandSize = 8 });
        await pool.FillAsync(CancellationToken.None);

        // 3 leases a second for 30 s, each replacement ready in 0.8 s: 3 × 0.8 × 1.5 + 1 = 5 (rounded up).
        for (var i = 0; i < 90; i++)
        {
            pool.Demand.Refilled(TimeSpan.FromMilliseconds(800));
            await pool.LeaseAsync(TimeSpan.Zero, CancellationToken.None); // a hit, then misses: demand either way
            time.Advance(TimeSpan.FromMilliseconds(333));
        }
        Assert.Equal(5, pool.Target);
        Assert.Equal(2, pool.ConfiguredTarget);

        time.Advance(TimeSpan.FromSeconds(31)); // leases stopped: 1 in 31 s is no demand
        Assert.Equal(2, pool.Target);
    }

    [Fact]
    public void Demand_never_raises_the_target_past_the_maximum()
    {
        var (pool, _, time) = Create(new PoolOptions { TargetSize = 1, MaxSize = 3 });
        for (var i = 0; i < 600; i++)
        {
            pool.Demand.Leased();
            time.Advance(TimeSpan.FromMilliseconds(50));
        }
        pool.Demand.Refilled(TimeSpan.FromSeconds(2));

        Assert.Equal(3, pool.Target);
    }

    [Fact]
    public async Task Demand_stays_within_what_the_host_holds_however_slow_refills_become()
    {
        // The runaway: every start slows the next (they share the cores with the runs), the measured refill time grows,
        // and with it the target. The host holds 4 here (Pool:MaxDemandSize): the target never passes it.
        var (pool, _, time) = Create(new PoolOptions { TargetSize = 2, MaxSize = 64, MaxDemandSize = 4 });
        for (var i = 0; i < 600; i++)
        {
            await pool.LeaseAsync(TimeSpan.Zero, CancellationToken.None);
            pool.Demand.Refilled(TimeSpan.FromSeconds(5 + i / 10.0));
            await pool.FillAsync(CancellationToken.None);
            Assert.InRange(pool.Ready + pool.Starting, 0, 4);
            time.Advance(TimeSpan.FromMilliseconds(100));
        }
        Assert.Equal(4, pool.Target);
        Assert.Equal(4, pool.Demand.Ceiling);
    }

    [Fact]
    public void Without_a_setting_the_ceiling_is_what_the_cores_and_memory_hold()
    {
        Assert.Equal(4, HostCapacity.Sandboxes(cores: 2, memoryBytes: 24L << 30, memoryMbEach: 128)); // two per core
        Assert.Equal(4, HostCapacity.Sandboxes(cores: 16, memoryBytes: 4L << 30, memoryMbEach: 512)); // half the memory
        Assert.Equal(1, HostCapacity.Sandboxes(cores: 1, memoryBytes: 256L << 20, memoryMbEach: 512));
        var (pool, _, _) = Create(new PoolOptions { MaxSize = 64 });
        Assert.Equal(Math.Min(64, HostCapacity.Sandboxes(128)), pool.Demand.Ceiling);
    }

    [Fact]
    public async Task When_traffic_stops_the_pool_shrinks_back_to_its_target_within_a_minute()
    {
        var (pool, engine, time) = Create(new PoolOptions { TargetSize = 2, MaxSize = 64, MaxDemandSize = 6, CheckIntervalSeconds = 5 });
        for (var i = 0; i < 100; i++)
        {
            pool.Demand.Refilled(TimeSpan.FromSeconds(3));
            await pool.LeaseAsync(TimeSpan.Zero, CancellationToken.None);
            await pool.FillAsync(CancellationToken.None);
            time.Advance(TimeSpan.FromMilliseconds(200));
        }
        Assert.Equal((6, 6), (pool.Target, pool.Ready + pool.Starting));

        // No more leases: the filler's rounds (every CheckIntervalSeconds) remove what is beyond the target.
        for (var elapsed = 0; elapsed < 60; elapsed += 5)
        {
            time.Advance(TimeSpan.FromSeconds(5));
            await pool.RecycleAsync(CancellationToken.None);
            await pool.FillAsync(CancellationToken.None);
        }
        Assert.Equal(2, pool.Target);
        Assert.Equal(2, pool.Ready);
        Assert.Equal(4, engine.Removed.Count);
    }

    private static (WarmPool, FakeEngine, FakeTimeProvider) Create(PoolOptions options)
    {
        var engine = new FakeEngine();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var janitor = new ContainerJanitor(engine, time, NullLogger<ContainerJanitor>.Instance);
        var sandbox = new SandboxOptions();
        var catalog = new RuntimeCatalog(sandbox, new Dictionary<string, RuntimeSettings>());
        var runtime = new SandboxRuntime(null!, Options.Create(sandbox), catalog, NullLogger<SandboxRuntime>.Instance);
        var launcher = new LauncherFiles(Options.Create(new SandboxOptions { LauncherDirectory = "" }), time, NullLogger<LauncherFiles>.Instance);
        var pool = new WarmPool(catalog.Default, options.TargetSize, engine, janitor, runtime, new SandboxInstance("prewarm"), launcher, Options.Create(sandbox),
            options, time, new PoolMetrics(new TestMeterFactory()), NullLogger<WarmPool>.Instance);
        return (pool, engine, time);
    }

    private sealed class TestMeterFactory : System.Diagnostics.Metrics.IMeterFactory
    {
        public System.Diagnostics.Metrics.Meter Create(System.Diagnostics.Metrics.MeterOptions options) => new(options);

        public void Dispose()
        {
        }
    }

    /// <summary>An engine whose containers boot at once: "started" and "ready" are the same thing here.</summary>
    private sealed class FakeEngine : IContainerEngine
    {
        private readonly List<string> _created = [];
        private int _next;

        public List<string> Removed { get; } = [];

        public Task<string> CreateAsync(CreateContainerParameters spec)
        {
            var id = $"c{Interlocked.Increment(ref _next)}";
            _created.Add(id);
            return Task.FromResult(id);
        }

        /// <summary>While set and not completed, containers stay booting (their start has not returned).</summary>
        public TaskCompletionSource? Booting { get; set; }

        public Task StartCreatedAsync(string containerId) => Booting?.Task ?? Task.CompletedTask;

        public Task<MultiplexedStream> WatchAsync(string containerId, CancellationToken cancellationToken) =>
            Task.FromResult(new MultiplexedStream(new MemoryStream([1, 0, 0, 0, 0, 0, 0, 5, (byte)'r', 0, 0, 0, 0]), multiplexed: true));

        public Task RemoveAsync(string containerId)
        {
            Removed.Add(containerId);
            return Task.CompletedTask;
        }

        public Task RenameAsync(string containerId, string name, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task<string> StartAsync(CreateContainerParameters spec) => throw new NotSupportedException();

        public Task<MultiplexedStream> AttachAsync(string containerId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task KillAsync(string containerId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<State?> InspectStateAsync(string containerId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<ContainerListResponse>> ListAsync(IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<ContainerListResponse>>(
                [.. _created.Except(Removed).Select(id => new ContainerListResponse { ID = id, State = "running" })]);

        public Task PingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
