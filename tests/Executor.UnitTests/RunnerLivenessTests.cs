using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Executor.Prewarm.Pool;
using Executor.Sandbox;

namespace Executor.UnitTests;

/// <summary>When the pool takes its runner for dead, on a fake engine and a fake clock; the real one is in FaultTests.</summary>
public class RunnerLivenessTests
{
    [Fact]
    public async Task A_pool_that_started_and_was_never_leased_to_removes_the_runners_containers_after_the_lease_time()
    {
        // A runner killed just after its pool restarted, before it held the new pool's lease: its run's container stays.
        var (liveness, engine, time, _) = await StartAsync();

        await AdvanceAsync(time, TimeSpan.FromSeconds(2));
        Assert.Empty(engine.Removed);
        await AdvanceAsync(time, TimeSpan.FromSeconds(3));

        Assert.Equal(["run-container", "leased-container"], await engine.RemovedAsync());
        await liveness.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_runner_that_holds_its_lease_keeps_its_containers_and_loses_them_once_it_lapses()
    {
        var (liveness, engine, time, _) = await StartAsync();

        var lease = liveness.Hold("runner-1");
        await AdvanceAsync(time, TimeSpan.FromSeconds(10));
        Assert.Empty(engine.Removed);

        lease.Dispose();
        await AdvanceAsync(time, TimeSpan.FromSeconds(2));
        Assert.Empty(engine.Removed);
        await AdvanceAsync(time, TimeSpan.FromSeconds(3));

        Assert.Equal(["run-container", "leased-container"], await engine.RemovedAsync());
        await liveness.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_stopping_pool_takes_the_lease_it_ended_itself_for_no_sign_of_a_dead_runner()
    {
        // The whole stack stops: the pool aborts the runner's lease, while the runner removes its own containers.
        var (liveness, engine, time, lifetime) = await StartAsync();
        var lease = liveness.Hold("runner-1");

        lifetime.StopApplication();
        lease.Dispose();
        await AdvanceAsync(time, TimeSpan.FromSeconds(10));

        Assert.Empty(engine.Removed);
        await liveness.StopAsync(CancellationToken.None);
    }

    /// <summary>A second at a time, giving the sweep that each tick starts a moment (it runs on the thread pool).</summary>
    private static async Task AdvanceAsync(FakeTimeProvider time, TimeSpan span)
    {
        for (var at = TimeSpan.Zero; at < span; at += TimeSpan.FromSeconds(1))
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(50);
        }
    }

    /// <summary>A started pool's liveness watch, no runner having held a lease yet.</summary>
    private static async Task<(RunnerLiveness, FakeEngine, FakeTimeProvider, ApplicationLifetime)> StartAsync()
    {
        var time = new FakeTimeProvider();
        var engine = new FakeEngine();
        var lifetime = new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance);
        var janitor = new ContainerJanitor(engine, time, NullLogger<ContainerJanitor>.Instance);
        var liveness = new RunnerLiveness(engine, janitor, Options.Create(new SandboxOptions()), Options.Create(new PoolOptions { RunnerLeaseSeconds = 3 }),
            lifetime, time, NullLogger<RunnerLiveness>.Instance);
        await liveness.StartAsync(CancellationToken.None);
        lifetime.NotifyStarted();
        await Task.Delay(200); // ExecuteAsync runs on the thread pool: its timer exists once it has begun
        Assert.False(liveness.ExecuteTask!.IsCompleted, liveness.ExecuteTask.Exception?.ToString());
        return (liveness, engine, time, lifetime);
    }

    /// <summary>One container of a run, one leased, one the pool's own (never the runner's).</summary>
    private sealed class FakeEngine : IContainerEngine
    {
        private readonly ContainerListResponse[] _containers =
        [
            new() { ID = "run-container", Names = ["/" + SandboxLabels.RunNamePrefix + "1"], Labels = new Dictionary<string, string>() },
            new() { ID = "leased-container", Names = ["/" + SandboxLabels.LeasedNamePrefix + "1"], Labels = new Dictionary<string, string>() },
            new() { ID = "pool-container", Names = ["/executor-pool-1"], Labels = new Dictionary<string, string>() },
        ];

        public List<string> Removed { get; } = [];

        /// <summary>What was removed once a sweep has had time to remove anything (up to 5 s on a busy machine).</summary>
        public async Task<List<string>> RemovedAsync()
        {
            for (var i = 0; i < 100 && Removed.Count == 0; i++)
            {
                await Task.Delay(50);
            }
            await Task.Delay(50);
            lock (Removed)
            {
                return [.. Removed];
            }
        }

        public Task RemoveAsync(string containerId)
        {
            lock (Removed)
            {
                Removed.Add(containerId);
            }
            return Task.CompletedTask;
        }

        public Task<IReadOnlyList<ContainerListResponse>> ListAsync(IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
        {
            lock (Removed)
            {
                return Task.FromResult<IReadOnlyList<ContainerListResponse>>([.. _containers.Where(c => !Removed.Contains(c.ID))]);
            }
        }

        public Task<string> StartAsync(CreateContainerParameters spec) => throw new NotSupportedException();

        public Task<string> CreateAsync(CreateContainerParameters spec) => throw new NotSupportedException();

        public Task StartCreatedAsync(string containerId) => throw new NotSupportedException();

        public Task<MultiplexedStream> AttachAsync(string containerId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<MultiplexedStream> WatchAsync(string containerId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task KillAsync(string containerId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<State?> InspectStateAsync(string containerId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task RenameAsync(string containerId, string name, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task PingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
