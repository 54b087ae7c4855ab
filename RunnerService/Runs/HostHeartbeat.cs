using Executor.Contracts;
using Executor.Runner.Sandboxes;
using Executor.Sandbox;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Executor.Runner.Runs;

/// <summary>
/// Tells SessionService, every couple of seconds, that this host lives: its process, its runs, its pool and its
/// engine; and hears what it must do (kill a run, prewarm). A host that cannot reach SessionService for longer than
/// <see cref="HostRoutes.HostTimeout"/> has been declared dead there, its runs ended: it kills them too, rather than
/// finish them unseen. Readiness: unhealthy until SessionService has heard from this process.
/// </summary>
public sealed partial class HostHeartbeat(
    SessionClient session,
    PrewarmClient prewarm,
    RunRegistry runs,
    SandboxRegistry sandboxes,
    ResultReporter reporter,
    RuntimeProbe runtimes,
    IContainerEngine engine,
    SandboxInstance instance,
    IOptions<SandboxOptions> sandbox,
    IOptions<RunnerOptions> options,
    TimeProvider time,
    ILogger<HostHeartbeat> logger) : BackgroundService, IHealthCheck
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(500);

    private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _prewarmGeneration;
    private long _lastHeard;
    private bool _cutOff;

    /// <summary>Completes once SessionService has heard from this process.</summary>
    public Task Connected => _connected.Task;

    /// <summary>Ready warm containers in this host's pool, as of the last heartbeat.</summary>
    public int PoolReady { get; private set; }

    /// <summary>Why this host's engine cannot run sandboxes, as of the last heartbeat; null while it can.</summary>
    public string? EngineProblem { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _lastHeard = time.GetTimestamp();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var beat = await DescribeAsync(stoppingToken);
                var answer = await session.HeartbeatAsync(sandbox.Value.Host, beat, stoppingToken);
                Volatile.Write(ref _lastHeard, time.GetTimestamp());
                _cutOff = false;
                _connected.TrySetResult();
                foreach (var sessionId in answer.Cancel)
                {
                    _ = runs.CancelAsync(sessionId);
                    sandboxes.Cancel(sessionId); // a sandbox command's id: interrupted if it runs, answered if it waits
                }
                foreach (var end in answer.EndSandboxes ?? [])
                {
                    sandboxes.End(end.SandboxId, end.Reason, byHost: false);
                }
                if (answer.Prewarm is { } command && await prewarm.PrewarmAsync(command.Count, stoppingToken))
                {
                    _prewarmGeneration = command.Generation;
                }
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogHeartbeatFailed(e.Message);
                if (!_cutOff && time.GetElapsedTime(Volatile.Read(ref _lastHeard)) > HostRoutes.HostTimeout)
                {
                    _cutOff = true;
                    LogCutOff((int)HostRoutes.HostTimeout.TotalSeconds, runs.ActiveCount);
                    runs.CancelAll();
                    sandboxes.EndAll($"cut off from SessionService for more than {(int)HostRoutes.HostTimeout.TotalSeconds} s", byHost: true);
                }
                await Task.Delay(RetryDelay, time, stoppingToken);
            }
        }
    }

    private async Task<Heartbeat> DescribeAsync(CancellationToken cancellationToken)
    {
        var pool = await prewarm.GetPoolAsync(cancellationToken);
        PoolReady = pool?.Ready ?? 0;
        EngineProblem = await EngineProblemAsync(cancellationToken);
        // Ended runs whose results still wait for delivery are listed too: SessionService would take them for lost. So are
        // the sandbox commands claimed here (waiting in their sandbox's queue, running, or being reported).
        IReadOnlyList<string> listed = [.. runs.ActiveIds.Union(sandboxes.PendingCommands).Union(reporter.Undelivered)];
        return new Heartbeat(instance.Id, listed, options.Value.MaxConcurrentRuns, pool, EngineProblem, _prewarmGeneration, runtimes.Runtimes,
            sandboxes.LiveIds, sandboxes.RecentlyEnded);
    }

    private async Task<string?> EngineProblemAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            await engine.PingAsync(timeout.Token);
            return null;
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // The heartbeat's reason reaches callers (503 engine-unavailable): what the engine said goes to the log only,
            // once when the engine stops answering rather than at every heartbeat.
            if (EngineProblem is null)
            {
                LogEngineUnreachable(e.Message);
            }
            return "its Docker engine does not answer";
        }
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(Connected.IsCompleted && !_cutOff
            ? HealthCheckResult.Healthy($"runner host '{sandbox.Value.Host}' is connected to SessionService")
            : HealthCheckResult.Unhealthy($"runner host '{sandbox.Value.Host}' is not connected to SessionService"));

    [LoggerMessage(Level = LogLevel.Warning, Message = "The Docker engine does not answer: {Reason}")]
    private partial void LogEngineUnreachable(string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Heartbeat to SessionService failed: {Reason}")]
    private partial void LogHeartbeatFailed(string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Cut off from SessionService for more than {Seconds} s: killing the {Count} runs in progress")]
    private partial void LogCutOff(int seconds, int count);
}
