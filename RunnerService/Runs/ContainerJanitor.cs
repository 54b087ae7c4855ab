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
    // After the launcher's one-second linger (launcher.py): by then the container has exited, which costs nothing
    // while it waits, and removing an exited container is the cheap kind of removal.
    private static readonly TimeSpan Deferral = TimeSpan.FromMilliseconds(1500);

    private readonly Channel<Removal> _queue =
        Channel.CreateBounded<Removal>(new BoundedChannelOptions(4096)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = false,
        });

    private int _pending;

    /// <summary>Containers handed over for removal and not yet removed.</summary>
    public int Pending => Volatile.Read(ref _pending);

    public Task RemoveAsync(string containerId, bool now = false)
    {
        var removed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var notBefore = time.GetUtcNow() + (now ? TimeSpan.Zero : Deferral);
        if (!_queue.Writer.TryWrite(new Removal(containerId, notBefore, removed)))
        {
            // Thousands of removals behind: remove inline rather than lose track of a container.
            return engine.RemoveAsync(containerId, CancellationToken.None);
        }
        Interlocked.Increment(ref _pending);
        _ = removed.Task.ContinueWith(_ => Interlocked.Decrement(ref _pending), TaskScheduler.Default);
        return removed.Task;
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
                    LogRemoveFailed(item.ContainerId, e);
                    item.Removed.TrySetException(e);
                }
            });

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
            await engine.RemoveAsync(item.ContainerId, cancellationToken);
            item.Removed.TrySetResult();
        }
        await base.StopAsync(cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not remove container {ContainerId}")]
    private partial void LogRemoveFailed(string containerId, Exception exception);

    private sealed record Removal(string ContainerId, DateTimeOffset NotBefore, TaskCompletionSource Removed);
}
