using Executor.Sandbox;
using Microsoft.Extensions.Options;

namespace Executor.Prewarm.Pool;

/// <summary>
/// Watches this host's runner through the lease it holds open (PUT /runner-lease, a request whose body never ends;
/// RunnerLease in RunnerService). A runner killed outright leaves its runs' containers and its leased ones on the
/// engine, and nothing else would remove them until it started again; but its connection closes with it, whatever
/// the machine's load. Once no lease has been held for Pool:RunnerLeaseSeconds (room for a runner to reconnect), this
/// service, which shares the engine, removes every container that is the runner's (SandboxLabels.IsRunners), and
/// goes on doing so while no runner holds a lease. A runner that comes back holds its lease before it takes any
/// container. A runner that stops gracefully removes its own containers, and releases its lease last. The clock also
/// runs from this service's own start: a pool that was restarted knows no runner until one holds its lease again, and
/// a runner killed before it did (it notices the old pool's end only when it next writes) would otherwise never be swept.
/// </summary>
public sealed partial class RunnerLiveness(
    IContainerEngine engine,
    ContainerJanitor janitor,
    IOptions<SandboxOptions> sandbox,
    IOptions<PoolOptions> options,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    ILogger<RunnerLiveness> logger) : BackgroundService
{
    private static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);

    private readonly Lock _lock = new();
    private string? _runner;
    private int _held;
    private long _releasedAt;
    private bool _started;

    /// <summary>The runner process <paramref name="runner"/> holds its lease until the returned object is disposed.</summary>
    public IDisposable Hold(string runner)
    {
        lock (_lock)
        {
            if (_runner is not null && _runner != runner)
            {
                LogNewRunner(_runner, runner);
            }
            _runner = runner;
            _held++;
        }
        return new Release(this);
    }

    private void Released()
    {
        lock (_lock)
        {
            _held--;
            _releasedAt = time.GetTimestamp();
        }
    }

    /// <summary>The runner whose lease lapsed, if one did: the last that held it, or none since this service started.</summary>
    private string? Lapsed()
    {
        lock (_lock)
        {
            // A stopping pool ends every lease itself (PoolApi aborts them): that says nothing of the runner, which may
            // be stopping too and removing its containers; sweeping them as well would race its removals.
            return _started && _held == 0 && !lifetime.ApplicationStopping.IsCancellationRequested
                && time.GetElapsedTime(_releasedAt) > TimeSpan.FromSeconds(options.Value.RunnerLeaseSeconds)
                ? _runner ?? NoRunnerYet
                : null;
        }
    }

    private const string NoRunnerYet = "(none since this pool started)";

    /// <summary>From when this service listens, a runner has Pool:RunnerLeaseSeconds to hold its lease.</summary>
    private void Started()
    {
        lock (_lock)
        {
            if (_runner is null)
            {
                _releasedAt = time.GetTimestamp();
            }
            _started = true;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        lifetime.ApplicationStarted.Register(Started);
        using var timer = new PeriodicTimer(CheckInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            if (Lapsed() is not { } runner)
            {
                continue;
            }
            try
            {
                var left = (await engine.ListAsync(SandboxLabels.OfHost(sandbox.Value), stoppingToken))
                    .Where(c => SandboxLabels.IsRunners(c) && !janitor.IsRemoving(c.ID))
                    .Select(c => c.ID)
                    .ToList();
                foreach (var id in left)
                {
                    LogRemoving(runner, id);
                }
                await Task.WhenAll(left.Select(id => janitor.RemoveAsync(id, now: true)));
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                // The engine may be away; the next tick asks again.
                LogSweepFailed(e.Message);
            }
        }
    }

    private sealed class Release(RunnerLiveness liveness) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                liveness.Released();
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Runner {Runner} is gone (its lease lapsed): removing its container {ContainerId}")]
    private partial void LogRemoving(string runner, string containerId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Runner {Previous} was replaced by {Runner}")]
    private partial void LogNewRunner(string previous, string runner);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not sweep a lapsed runner's containers: {Reason}")]
    private partial void LogSweepFailed(string reason);
}
