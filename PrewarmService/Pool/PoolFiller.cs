using Executor.Sandbox;
using Microsoft.Extensions.Options;

namespace Executor.Prewarm.Pool;

/// <summary>
/// Keeps the pool at its target in the background: at start (after sweeping up what an earlier instance left),
/// whenever a lease or POST /prewarm asks, and on a timer. Failures are logged and retried on the next round.
/// </summary>
public sealed partial class PoolFiller(
    WarmPool pool,
    IContainerEngine engine,
    SandboxInstance instance,
    IOptions<SandboxOptions> sandboxOptions,
    IOptions<PoolOptions> poolOptions,
    TimeProvider time,
    ILogger<PoolFiller> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await SweepAbandonedAsync(stoppingToken);
        var interval = TimeSpan.FromSeconds(poolOptions.Value.CheckIntervalSeconds);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await pool.RenameLeasedAsync();
                await pool.RecycleAsync(stoppingToken);
                await pool.FillAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogFillFailed(e);
            }

            // Sleep until someone asks for a refill or the next check is due, whichever comes first.
            using var due = new CancellationTokenSource(interval, time);
            using var wake = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, due.Token);
            try
            {
                await pool.RefillRequests.ReadAsync(wake.Token);
                await HoldBackDuringBurstAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
            }
        }
    }

    /// <summary>
    /// Starting a container costs the engine ~200 ms of CPU: not while leases come in quick succession (the runs of a
    /// burst need the cores), but as soon as they pause, and never later than a second after the first of them.
    /// </summary>
    private async Task HoldBackDuringBurstAsync(CancellationToken stoppingToken)
    {
        var quiet = TimeSpan.FromMilliseconds(poolOptions.Value.RefillDelayMs);
        var started = time.GetTimestamp();
        do
        {
            await Task.Delay(quiet, time, stoppingToken);
        }
        while (pool.SinceLastLease < quiet && time.GetElapsedTime(started) < MaxHoldBack);
    }

    private static readonly TimeSpan MaxHoldBack = TimeSpan.FromSeconds(1);

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await pool.DrainAsync(cancellationToken);
    }

    /// <summary>
    /// Removes pool containers that an earlier instance of this service started and nobody leased (still named as
    /// pool containers). Leased ones were renamed and belong to a run.
    /// </summary>
    private async Task SweepAbandonedAsync(CancellationToken cancellationToken)
    {
        try
        {
            var labels = SandboxLabels.Owned(sandboxOptions.Value, instance.Service);
            labels[SandboxLabels.Role] = SandboxLabels.PoolRole;
            foreach (var container in await engine.ListAsync(labels, cancellationToken))
            {
                var unleased = container.Names.Any(n => n.TrimStart('/').StartsWith(SandboxLabels.PoolNamePrefix, StringComparison.Ordinal));
                if (unleased && (!container.Labels.TryGetValue(SandboxLabels.Instance, out var owner) || owner != instance.Id))
                {
                    await engine.RemoveAsync(container.ID, cancellationToken);
                    LogSwept(container.ID[..12]);
                }
            }
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            LogSweepFailed(e);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not fill the warm pool; retrying on the next round")]
    private partial void LogFillFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Removed abandoned pool container {ContainerId}")]
    private partial void LogSwept(string containerId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not sweep abandoned pool containers")]
    private partial void LogSweepFailed(Exception exception);
}
