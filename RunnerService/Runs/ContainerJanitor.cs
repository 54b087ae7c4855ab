using System.Threading.Channels;
using Executor.Sandbox;

namespace Executor.Runner.Runs;

/// <summary>
/// Removes used containers off the hot path: a run returns its result first and its container goes a little later
/// (its launcher lingers a second after the result, then exits), so stopping and removing containers never competes
/// with the runs of a burst for the engine. Whoever must know that a container is gone (cleanup) asks for it at once
/// and awaits the returned task.
/// </summary>
public sealed partial class ContainerJanitor(IContainerEngine engine, TimeProvider time, ILogger<ContainerJanitor> logger) : BackgroundService
{
    private const int Parallelism = 4;
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

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _removing = new();
    private int _pending;

    /// <summary>Whether the container is waiting for, or in, its removal.</summary>
    public bool IsRemoving(string containerId) => _removing.ContainsKey(containerId);

    /// <summary>Containers handed over for removal and not yet removed.</summary>
    public int Pending => Volatile.Read(ref _pending);

    public Task RemoveAsync(string containerId, bool now = false)
    {
        var removed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var notBefore = time.GetUtcNow() + (now ? TimeSpan.Zero : Deferral);
        var removal = new Removal(containerId, notBefore, removed, Attempt: 1);
        if (!_queue.Writer.TryWrite(removal))
        {
            // Thousands of removals behind: remove inline rather than lose track of a container.
            return engine.RemoveAsync(containerId, CancellationToken.None);
        }
        Track(removal);
        return removed.Task;
    }

    private void Track(Removal removal)
    {
        Interlocked.Increment(ref _pending);
        _removing[removal.ContainerId] = true;
        _ = removal.Removed.Task.ContinueWith(done =>
        {
            Interlocked.Decrement(ref _pending);
            if (done.IsCompletedSuccessfully)
            {
                _removing.TryRemove(removal.ContainerId, out _);
            }
        }, TaskScheduler.Default);
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Parallel.ForEachAsync(
            _queue.Reader.ReadAllAsync(stoppingToken),
            new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = stoppingToken },
            async (item, cancellationToken) =>
            {
                try
                {
                    await WaitUntilDueAsync(item, cancellationToken);
                    // Not the stopping token: a removal that has begun should finish during shutdown.
                    await engine.RemoveAsync(item.ContainerId, CancellationToken.None);
                    item.Removed.TrySetResult();
                }
                catch (Exception e)
                {
                    // Whoever waits hears of the failure now; the container is tried again (the engine may be away).
                    item.Removed.TrySetException(e);
                    Retry(item, e);
                }
            });

    private void Retry(Removal failed, Exception error)
    {
        if (failed.Attempt >= MaxAttempts)
        {
            _removing.TryRemove(failed.ContainerId, out _); // no longer ours to remove: the reaper will find it
            LogGaveUp(failed.ContainerId, error);
            return;
        }
        LogRemoveFailed(failed.ContainerId, failed.Attempt, error.Message);
        var backoff = TimeSpan.FromSeconds(Math.Min(30, 1 << failed.Attempt));
        var again = new Removal(failed.ContainerId, time.GetUtcNow() + backoff,
            new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), failed.Attempt + 1);
        if (_queue.Writer.TryWrite(again))
        {
            Track(again);
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

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete();
        while (_queue.Reader.TryRead(out var item))
        {
            try
            {
                await engine.RemoveAsync(item.ContainerId, cancellationToken);
                item.Removed.TrySetResult();
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                item.Removed.TrySetException(e);
                LogGaveUp(item.ContainerId, e);
            }
        }
        await base.StopAsync(cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not remove container {ContainerId} (attempt {Attempt}): {Reason}; retrying")]
    private partial void LogRemoveFailed(string containerId, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Gave up removing container {ContainerId}; the orphan reaper will")]
    private partial void LogGaveUp(string containerId, Exception exception);

    private sealed record Removal(string ContainerId, DateTimeOffset NotBefore, TaskCompletionSource Removed, int Attempt);
}
