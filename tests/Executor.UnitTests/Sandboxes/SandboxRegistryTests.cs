using System.Collections.Concurrent;
using Docker.DotNet;
using Docker.DotNet.Models;
using Executor.Contracts;
using Executor.Runner.Runs;
using Executor.Runner.Sandboxes;
using Executor.Sandbox;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Executor.UnitTests.Sandboxes;

/// <summary>
/// The sandboxes of one runner host, with a fake engine whose containers run a fake kernel-mode launcher: what is created,
/// what SessionService hears (results, heartbeat lists), and that every ended sandbox's container is removed.
/// </summary>
#pragma warning disable CA1001 // disposed in DisposeAsync, as xunit's IAsyncLifetime has it
public sealed class SandboxRegistryTests : IAsyncLifetime
#pragma warning restore CA1001
{
    private readonly FakeSessionService _session = new();
    private readonly KernelEngine _engine = new();
    private readonly Lifetime _lifetime = new();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly SandboxRegistry _registry;
    private readonly ResultReporter _reporter;

    public SandboxRegistryTests()
    {
        var sandbox = Options.Create(new SandboxOptions { Host = "host-1" });
        var runner = Options.Create(new RunnerOptions { UseWarmPool = false, MaxSandboxes = 2, SandboxStartSeconds = 1 });
        var catalog = new RuntimeCatalog(sandbox.Value, new Dictionary<string, RuntimeSettings>());
        var janitor = new ContainerJanitor(_engine, TimeProvider.System, NullLogger<ContainerJanitor>.Instance);
        var prewarm = new PrewarmClient(new HttpClient(_session) { BaseAddress = new Uri("http://prewarm") },
            new LeasedNames(_engine, TimeProvider.System, NullLogger<LeasedNames>.Instance), NullLogger<PrewarmClient>.Instance);
        var slots = new WarmSlots(_engine, prewarm, janitor, runner, _time, NullLogger<WarmSlots>.Instance);
        var isolation = new SandboxRuntime(null!, sandbox, catalog, NullLogger<SandboxRuntime>.Instance);
        var launcher = new LauncherFiles(Options.Create(new SandboxOptions { LauncherDirectory = "" }), _time, NullLogger<LauncherFiles>.Instance);
        var containers = new ContainerSource(_engine, prewarm, slots, new SandboxInstance("runner"), isolation, launcher, sandbox, runner, _time);
        _reporter = new ResultReporter(_session.Client, sandbox, _time, NullLogger<ResultReporter>.Instance);
        var egress = new Executor.Runner.Egress.EgressProxy(Options.Create(new EgressOptions()), _time, NullLogger<Executor.Runner.Egress.EgressProxy>.Instance);
        _registry = new SandboxRegistry(containers, egress, _engine, janitor, _reporter, _session.Client, new MemoryCache(new MemoryCacheOptions { SizeLimit = 100 }),
            catalog, isolation, sandbox, runner, _time, new MeterFactory(), NullLoggerFactory.Instance, _lifetime);
    }

    public Task InitializeAsync() => _registry.StartAsync(CancellationToken.None);

    public async Task DisposeAsync()
    {
        await _lifetime.Stopping.CancelAsync();
        await _registry.StopAsync(CancellationToken.None);
        _registry.Dispose();
        _reporter.Dispose();
        _session.Dispose();
    }

    private static RunJob Command(string id, string sandboxId, string kind, string? code = null) =>
        new(id, [], "", [], null, 5, null, Sandbox: new SandboxCommand(sandboxId, kind, code, IdleTimeoutSeconds: 300, LifetimeSeconds: 3600));

    private async Task<FakeKernel> CreateAsync(string sandboxId, string commandId)
    {
        _registry.Dispatch(Command(commandId, sandboxId, SandboxCommandKinds.Create));
        var created = await _session.ResultOf(commandId);
        Assert.Equal(RunStatus.Completed, created.Status);
        Assert.Equal(SandboxStatus.Ok, created.Sandbox!.Status);
        Assert.Equal("host-1", created.RunnerHost);
        Assert.Equal(RuntimeCatalog.Python, created.Runtime);
        return _engine.Kernels[created.ContainerId!];
    }

    [Fact]
    public async Task A_created_sandbox_is_listed_and_runs_the_calls_sent_to_it()
    {
        var kernel = await CreateAsync("sbx-1", "create-1");
        kernel.Respond = (kind, payload) => kind == LauncherFrames.Call
            ? [(LauncherFrames.Stdout, "2\n"u8.ToArray()), (LauncherFrames.CallRecord, System.Text.Encoding.UTF8.GetBytes(FakeKernel.Record("call-1", "ok")))]
            : [];

        Assert.Equal(["sbx-1"], _registry.LiveIds);
        _registry.Dispatch(Command("call-1", "sbx-1", SandboxCommandKinds.Run, "print(1 + 1)"));
        var result = await _session.ResultOf("call-1");

        Assert.Equal(RunStatus.Completed, result.Status);
        Assert.Equal("2\n", result.Stdout);
        Assert.Equal(5, result.Limits!.TimeoutSeconds);
        Assert.NotNull(result.ContainerId);
        Assert.Empty(_registry.RecentlyEnded);
    }

    [Fact]
    public async Task A_command_stays_listed_as_running_until_its_result_is_the_reporters()
    {
        var kernel = await CreateAsync("sbx-1", "create-1");

        _registry.Dispatch(Command("call-1", "sbx-1", SandboxCommandKinds.Run, "import time; time.sleep(1)"));
        await kernel.NextAsync();

        Assert.Contains("call-1", _registry.PendingCommands);
        kernel.Send(LauncherFrames.CallRecord, FakeKernel.Record("call-1", "ok"));
        await _session.ResultOf("call-1");
        await WaitUntil(() => !_registry.PendingCommands.Contains("call-1"));
    }

    [Fact]
    public async Task A_command_for_a_sandbox_this_host_does_not_hold_is_answered_gone_at_once()
    {
        _registry.Dispatch(Command("call-1", "sbx-unknown", SandboxCommandKinds.Run, "x"));

        var result = await _session.ResultOf("call-1");

        Assert.Equal(RunStatus.InternalError, result.Status);
        Assert.Equal(SandboxStatus.SandboxGone, result.Sandbox!.Status);
    }

    [Fact]
    public async Task Ending_a_sandbox_on_SessionServices_word_removes_its_container_and_answers_its_waiting_calls_gone()
    {
        var kernel = await CreateAsync("sbx-1", "create-1");
        var containerId = _engine.Kernels.Single().Key;
        _registry.Dispatch(Command("call-1", "sbx-1", SandboxCommandKinds.Run, "x"));
        _registry.Dispatch(Command("call-2", "sbx-1", SandboxCommandKinds.Run, "y"));
        await kernel.NextAsync();

        _registry.End("sbx-1", "deleted by its owner", byHost: false);

        Assert.Equal(SandboxStatus.SandboxGone, (await _session.ResultOf("call-2")).Sandbox!.Status);
        Assert.Equal(RunStatus.InternalError, (await _session.ResultOf("call-1")).Status);
        await WaitUntil(() => _engine.Removed.Contains(containerId) && _registry.LiveIds.Count == 0);
        Assert.False(_registry.Holds(containerId));
        Assert.Empty(_registry.RecentlyEnded); // SessionService knows already
    }

    [Fact]
    public async Task A_sandbox_whose_container_died_is_told_to_SessionService_and_its_container_removed()
    {
        var kernel = await CreateAsync("sbx-1", "create-1");
        var containerId = _engine.Kernels.Single().Key;

        kernel.Die();

        await WaitUntil(() => _registry.RecentlyEnded.Count == 1 && _engine.Removed.Contains(containerId));
        var end = Assert.Single(_registry.RecentlyEnded);
        Assert.Equal("sbx-1", end.SandboxId);
        Assert.Contains("host-1", end.Reason);
        Assert.Empty(_registry.LiveIds);
    }

    [Fact]
    public async Task Creates_beyond_MaxSandboxes_are_refused_and_a_failed_start_leaves_no_container()
    {
        await CreateAsync("sbx-1", "create-1");
        await CreateAsync("sbx-2", "create-2");

        _registry.Dispatch(Command("create-3", "sbx-3", SandboxCommandKinds.Create));
        var refused = await _session.ResultOf("create-3");
        Assert.Equal(RunStatus.InternalError, refused.Status);
        Assert.Contains("holds 2 sandboxes", refused.Detail);

        _registry.End("sbx-2", "deleted", byHost: false);
        await WaitUntil(() => _registry.Count == 1);
        _engine.StartKernels = false; // the next container's launcher never answers
        _registry.Dispatch(Command("create-4", "sbx-4", SandboxCommandKinds.Create));
        var answer = _session.ResultOf("create-4");
        while (!answer.IsCompleted)
        {
            _time.Advance(TimeSpan.FromSeconds(1)); // past Runner:SandboxStartSeconds
            await Task.Delay(20);
        }
        var failed = await answer;
        Assert.Equal(RunStatus.InternalError, failed.Status);
        Assert.Contains("could not start", failed.Detail);
        Assert.Contains(failed.ContainerId!, _engine.Removed);
    }

    [Fact]
    public async Task The_hosts_backstop_ends_a_sandbox_idle_past_its_timeout_and_tells_SessionService_for_a_minute()
    {
        await CreateAsync("sbx-1", "create-1");

        _time.Advance(TimeSpan.FromSeconds(300) + SandboxRegistry.BackstopSlack - TimeSpan.FromSeconds(10));
        await Task.Delay(100);
        Assert.Equal(["sbx-1"], _registry.LiveIds); // SessionService's own idle end comes first; the host only backs it up

        _time.Advance(TimeSpan.FromSeconds(15));
        await WaitUntil(() => _registry.RecentlyEnded.Count == 1);
        Assert.Contains("idle", _registry.RecentlyEnded[0].Reason);
        await WaitUntil(() => _engine.Removed.Count == 1);

        _time.Advance(SandboxRegistry.EndedResent + TimeSpan.FromSeconds(5));
        await WaitUntil(() => _registry.RecentlyEnded.Count == 0);
    }

    [Fact]
    public async Task Stopping_the_host_ends_every_sandbox_and_removes_its_container()
    {
        await CreateAsync("sbx-1", "create-1");
        await CreateAsync("sbx-2", "create-2");

        await _lifetime.Stopping.CancelAsync();
        await _registry.StopAsync(CancellationToken.None);

        Assert.Empty(_registry.LiveIds);
        Assert.Equal(_engine.Kernels.Keys.Order(), _engine.Removed.Order());
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(20);
        }
    }

    /// <summary>An engine whose every container is a fake kernel-mode launcher.</summary>
    private sealed class KernelEngine : IContainerEngine
    {
        private int _next;

        public ConcurrentDictionary<string, FakeKernel> Kernels { get; } = new();

        public ConcurrentBag<string> Removed { get; } = [];

        public bool StartKernels { get; set; } = true;

        public Task<string> StartAsync(CreateContainerParameters spec)
        {
            var id = $"c{Interlocked.Increment(ref _next)}";
            Kernels[id] = new FakeKernel(StartKernels);
            return Task.FromResult(id);
        }

        public Task<MultiplexedStream> AttachAsync(string containerId, CancellationToken cancellationToken) => Task.FromResult(Kernels[containerId].Stream);

        public Task RemoveAsync(string containerId)
        {
            Removed.Add(containerId);
            return Task.CompletedTask;
        }

        public Task<string> CreateAsync(CreateContainerParameters spec) => throw new NotSupportedException();

        public Task StartCreatedAsync(string containerId) => throw new NotSupportedException();

        public Task<MultiplexedStream> WatchAsync(string containerId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task KillAsync(string containerId, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task<State?> InspectStateAsync(string containerId, CancellationToken cancellationToken) => Task.FromResult<State?>(null);

        public Task<IReadOnlyList<ContainerListResponse>> ListAsync(IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<ContainerListResponse>>([]);

        public Task RenameAsync(string containerId, string name, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task PingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class Lifetime : Microsoft.Extensions.Hosting.IHostApplicationLifetime
    {
        public CancellationTokenSource Stopping { get; } = new();

        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => Stopping.Token;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication() => Stopping.Cancel();
    }

    private sealed class MeterFactory : System.Diagnostics.Metrics.IMeterFactory
    {
        public System.Diagnostics.Metrics.Meter Create(System.Diagnostics.Metrics.MeterOptions options) => new(options);

        public void Dispose()
        {
        }
    }
}
