using Microsoft.Extensions.Options;

namespace Executor.Prewarm.Pool;

/// <summary>
/// Keeps the pool at its target in the background: at start (after the reaper swept up what an earlier instance left),
/// whenever a lease or POST /prewarm asks, and on a timer. Failures are logged and retried on the next round.
/// </summary>
public sealed partial class PoolFiller(
    WarmPool pool,
    PoolReaper reaper,
    IOptions<PoolOptions> poolOptions,
    TimeProvider time,
    ILogger<PoolFiller> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // What an earlier instance left behind goes first; then the pool fills.
        await reaper.FirstSweep.WaitAsync(stoppingToken);
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
        await pool.DrainAsync(); // no lease from here on
        await base.StopAsync(cancellationToken);
        await pool.DrainAsync(); // what the fill in progress started
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not fill the warm pool; retrying on the next round")]
    private partial void LogFillFailed(Exception exception);

}
