using Microsoft.Extensions.Options;

namespace Executor.Prewarm.Pool;

/// <summary>
/// Keeps each runtime's pool at its target in the background: at start (after the reaper swept up what an earlier
/// instance left; the default runtime's pool first), whenever a lease or POST /prewarm asks, and on a timer. Failures
/// are logged and retried on the next round (a runtime whose image is missing fails every round, and says so).
/// </summary>
public sealed partial class PoolFiller(
    WarmPools pools,
    PoolReaper reaper,
    IOptions<PoolOptions> poolOptions,
    TimeProvider time,
    ILogger<PoolFiller> logger) : BackgroundService
{
    private readonly TaskCompletionSource _defaultFilled = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // What an earlier instance left behind goes first; then the pools fill.
        await reaper.FirstSweep.WaitAsync(stoppingToken);
        await Task.WhenAll(pools.All.Select(pool => KeepAsync(pool, stoppingToken)));
    }

    private async Task KeepAsync(WarmPool pool, CancellationToken stoppingToken)
    {
        if (pool != pools.Default)
        {
            // The default runtime's containers first: they serve most runs, and a data runtime's boot costs a second of CPU.
            await _defaultFilled.Task.WaitAsync(stoppingToken);
        }
        var interval = TimeSpan.FromSeconds(poolOptions.Value.CheckIntervalSeconds);
        long? recycled = null;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // On the check's interval, not at every refill: a recycle lists the pool's containers, a call that costs
                // the engine as much as the runs around it would (a refill follows every lease under traffic).
                if (recycled is not { } last || time.GetElapsedTime(last) >= interval)
                {
                    recycled = time.GetTimestamp();
                    await pool.RecycleAsync(stoppingToken);
                }
                await pool.FillAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogFillFailed(pool.Language.Id, e);
            }
            if (pool == pools.Default)
            {
                _defaultFilled.TrySetResult();
            }

            // Sleep until someone asks for a refill or the next check is due, whichever comes first.
            using var due = new CancellationTokenSource(interval, time);
            using var wake = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, due.Token);
            try
            {
                await pool.RefillRequests.ReadAsync(wake.Token);
                await pool.Bursts.PauseAsync(TimeSpan.FromMilliseconds(poolOptions.Value.RefillDelayMs), stoppingToken);
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        Drain(); // no lease from here on
        await base.StopAsync(cancellationToken);
        Drain(); // what the fills in progress started
    }

    private void Drain()
    {
        foreach (var pool in pools.All)
        {
            pool.Drain();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not fill the warm pool of {Runtime}; retrying on the next round")]
    private partial void LogFillFailed(string runtime, Exception exception);
}
