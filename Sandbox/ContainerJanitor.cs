using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Executor.Sandbox;

/// <summary>
/// Removes this process's containers. Used ones go off the hot path: a run returns its result first and its container
/// goes a little later (its launcher lingers a second after the result, then exits), so removals never compete with
/// the runs of a burst for the engine. Whoever must know that a container is gone (cleanup) asks for it at once and
/// awaits the returned task. At shutdown every container still handed over is removed at once, in parallel: a stop
/// leaves nothing behind. Registered before the services that hand it containers, so it stops after them.
/// </summary>
public sealed partial class ContainerJanitor(IContainerEngine engine, TimeProvider time, ILogger<ContainerJanitor> logger) : BackgroundService
{
    private const int Parallelism = 4;
    // Removing 64 running containers takes the engine about 3 s on 2 cores with this many at once (1.4 s for 32).
    private const int ShutdownParallelism = 16;
    private const int MaxAttempts = 12;
    // After the launcher's one-second linger (launcher.py): by then the container has exited, which costs nothing
    // while it waits, and removing an exited container is the cheap kind of removal.
    private static readonly TimeSpan Deferral = TimeSpan.FromMilliseconds(1500);

    private readonly Channel<Removal> _queue =
        Channel.CreateBounded<Removal>(new BoundedChannelOptions(4096)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = false,
        });

    private readonly ConcurrentDictionary<string, Removal> _removing = new();

    /// <summary>Whether the container is waiting for, or in, its removal.</summary>
    public bool IsRemoving(string containerId) => _removing.ContainsKey(containerId);

    /// <summary>Containers handed over for removal and not yet removed.</summary>
    public int Pending => _removing.Count;

    /// <summary>
    /// Removes the container soon, or with <paramref name="now"/> at once (no queue: cleanup, orphans, shutdown);
    /// asking twice is one removal.
    /// </summary>
    public Task RemoveAsync(string containerId, bool now = false)
    {
        var removal = new Removal(containerId, time.GetUtcNow() + (now ? TimeSpan.Zero : Deferral),
            new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), Attempt: 1);
        var tracked = _removing.GetOrAdd(containerId, removal);
        if (tracked != removal || now)
        {
            return now ? RemoveNowAsync(tracked) : tracked.Removed.Task;
        }
        if (!_queue.Writer.TryWrite(removal))
        {
            // Stopping, or thousands of removals behind: remove inline rather than lose track of a container.
            return RemoveNowAsync(removal);
        }
        return removal.Removed.Task;
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Parallel.ForEachAsync(
            _queue.Reader.ReadAllAsync(stoppingToken),
            new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = stoppingToken },
            async (item, cancellationToken) =>
            {
                await WaitUntilDueAsync(item, cancellationToken);
                await RemoveNowAsync(item);
            });

    /// <summary>Removes it now unless a removal of it has already begun, in which case that one is awaited.</summary>
    private async Task RemoveNowAsync(Removal item)
    {
        if (Interlocked.Exchange(ref item.Started, 1) == 1)
        {
            await item.Removed.Task;
            return;
        }
        try
        {
            await engine.RemoveAsync(item.ContainerId);
            _removing.TryRemove(new KeyValuePair<string, Removal>(item.ContainerId, item));
            item.Removed.TrySetResult();
        }
        catch (Exception e)
        {
            // Whoever waits hears of the failure now; the container is tried again (the engine may be away).
            item.Removed.TrySetException(e);
            Retry(item, e);
        }
    }

    private void Retry(Removal failed, Exception error)
    {
        _removing.TryRemove(new KeyValuePair<string, Removal>(failed.ContainerId, failed));
        if (failed.Attempt >= MaxAttempts)
        {
            LogGaveUp(failed.ContainerId, error); // no longer ours to remove: the orphan reaper will find it
            return;
        }
        LogRemoveFailed(failed.ContainerId, failed.Attempt, error.Message);
        var backoff = TimeSpan.FromSeconds(Math.Min(30, 1 << failed.Attempt));
        var again = new Removal(failed.ContainerId, time.GetUtcNow() + backoff,
            new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), failed.Attempt + 1);
        // Someone who asked again meanwhile has a removal of their own going.
        if (_removing.TryAdd(again.ContainerId, again) && !_queue.Writer.TryWrite(again))
        {
            _removing.TryRemove(new KeyValuePair<string, Removal>(again.ContainerId, again));
        }
    }

    private async Task WaitUntilDueAsync(Removal item, CancellationToken cancellationToken)
    {
        var wait = item.NotBefore - time.GetUtcNow();
        try
        {
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, time, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
            // Shutting down: remove it now rather than leave it behind.
        }
    }

    /// <summary>Removes everything still handed over, at once and in parallel, before the process ends.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete();
        try
        {
            await base.StopAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
        var left = _removing.Values.ToList();
        if (left.Count == 0)
        {
            return;
        }
        var started = time.GetTimestamp();
        var removed = 0;
        LogRemovingAtStop(left.Count);
        await Parallel.ForEachAsync(
            left,
            new ParallelOptions { MaxDegreeOfParallelism = ShutdownParallelism, CancellationToken = cancellationToken },
            async (item, _) =>
            {
                try
                {
                    await RemoveNowAsync(item);
                    Interlocked.Increment(ref removed);
                }
                catch (Exception e)
                {
                    LogGaveUp(item.ContainerId, e);
                }
            });
        var elapsed = time.GetElapsedTime(started);
        LogRemovedAtStop(removed, left.Count, elapsed.TotalMilliseconds);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping: removing the {Count} container(s) still handed over")]
    private partial void LogRemovingAtStop(int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping: removed {Removed} of the {Count} container(s) in {Milliseconds:0} ms")]
    private partial void LogRemovedAtStop(int removed, int count, double milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not remove container {ContainerId} (attempt {Attempt}): {Reason}; retrying")]
    private partial void LogRemoveFailed(string containerId, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Gave up removing container {ContainerId}; the orphan reaper will")]
    private partial void LogGaveUp(string containerId, Exception exception);

    private sealed record Removal(string ContainerId, DateTimeOffset NotBefore, TaskCompletionSource Removed, int Attempt)
    {
        public int Started;
    }
}
