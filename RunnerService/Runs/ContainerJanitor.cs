using System.Threading.Channels;
using Executor.Sandbox;

namespace Executor.Runner.Runs;

/// <summary>
/// Removes used containers off the hot path: a run returns its result first and the container goes right after.
/// Whoever must know that a container is gone (cleanup) awaits the returned task.
/// </summary>
public sealed partial class ContainerJanitor(IContainerEngine engine, ILogger<ContainerJanitor> logger) : BackgroundService
{
    private const int Parallelism = 4;

    private readonly Channel<(string ContainerId, TaskCompletionSource Removed)> _queue =
        Channel.CreateBounded<(string, TaskCompletionSource)>(new BoundedChannelOptions(4096)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = false,
        });

    public Task RemoveAsync(string containerId)
    {
        var removed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_queue.Writer.TryWrite((containerId, removed)))
        {
            // Thousands of removals behind: remove inline rather than lose track of a container.
            return engine.RemoveAsync(containerId, CancellationToken.None);
        }
        return removed.Task;
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Parallel.ForEachAsync(
            _queue.Reader.ReadAllAsync(stoppingToken),
            new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = stoppingToken },
            async (item, _) =>
            {
                try
                {
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
}
