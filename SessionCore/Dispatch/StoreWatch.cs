using Executor.SessionCore.Storage;

namespace Executor.SessionCore.Dispatch;

/// <summary>
/// Looks at the store once a second for the whole replica, for what its waiting requests wait for: the claims that
/// queued work is for (<see cref="SessionSignals.Queued"/>), and the requests waiting for a session that has ended
/// (<see cref="SessionSignals.EndedElsewhere"/>). Signals wake them at once; this covers what a signal cannot: one relayed
/// from another replica and lost, or one that woke a claim that could not take the work (another runtime, a quota).
/// Two statements a second per replica, however many hosts and clients wait, where each waiter used to look on its own.
/// </summary>
public sealed partial class StoreWatch(IWorkQueue queue, ISessionStore store, SessionSignals signals, TimeProvider time, ILogger<StoreWatch> logger)
    : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                signals.Queued(await queue.QueuedWorkAsync(stoppingToken));
                if (signals.AwaitedEnds() is { Count: > 0 } awaited)
                {
                    signals.EndedElsewhere(await store.FinishedAmongAsync(awaited, stoppingToken));
                }
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogFailed(e.Message); // the store is down: the waiters' own calls fail, and this looks again in a second
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Could not look at the store: {Reason}")]
    private partial void LogFailed(string reason);
}
