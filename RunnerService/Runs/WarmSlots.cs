using System.Threading.Channels;
using Docker.DotNet;
using Executor.Sandbox;
using Microsoft.Extensions.Options;

namespace Executor.Runner.Runs;

/// <summary>
/// A few warm containers leased ahead of demand and already attached: a run that takes one sends its job at once,
/// without a lease call or an attach (together about 3 ms of the ~10 ms a warm run costs end to end). Refilled in
/// the background from PrewarmService's pool; emptied and removed at shutdown.
/// </summary>
public sealed partial class WarmSlots(
    IContainerEngine engine,
    PrewarmClient prewarm,
    ContainerJanitor janitor,
    IOptions<RunnerOptions> options,
    TimeProvider time,
    ILogger<WarmSlots> logger) : BackgroundService
{
    private static readonly TimeSpan MaxSlotAge = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan ReplenishDelay = TimeSpan.FromMilliseconds(15);

    private readonly Channel<AttachedSandbox> _slots = Channel.CreateBounded<AttachedSandbox>(
        new BoundedChannelOptions(Math.Max(1, options.Value.AttachedSlots)) { FullMode = BoundedChannelFullMode.Wait });
    private readonly Channel<bool> _taken = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _held = new();

    public int Ready => _slots.Reader.Count;

    /// <summary>Whether the container is one of this runner's slots (filled, or being filled).</summary>
    public bool Holds(string containerId) => _held.ContainsKey(containerId);

    /// <summary>Set by the reaper: slots are filled only after its first sweep, so it never takes them for orphans.</summary>
    public Task? StartAfter { get; set; }

    /// <summary>An attached warm container, or null when no slot is filled.</summary>
    public AttachedSandbox? TryTake()
    {
        while (_slots.Reader.TryRead(out var slot))
        {
            _held.TryRemove(slot.ContainerId, out _);
            if (Usable(slot))
            {
                return slot;
            }
            _ = Discard(slot);
        }
        return null;
    }

    /// <summary>Not too old, and not ended: a dead container's stream has ended its waiting read already.</summary>
    private bool Usable(AttachedSandbox slot)
    {
        if (slot.Read.Task.IsCompleted)
        {
            LogSlotEnded(slot.ContainerId);
            return false;
        }
        return time.GetUtcNow() - slot.AttachedAt < MaxSlotAge;
    }

    /// <summary>Asks for used slots to be filled again; called when a run ends, so refilling never competes with it.</summary>
    public void Replenish() => _taken.Writer.TryWrite(true);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var target = options.Value.AttachedSlots;
        if (target == 0 || !options.Value.UseWarmPool)
        {
            return;
        }
        if (StartAfter is { } first)
        {
            await first.WaitAsync(stoppingToken);
        }
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await DiscardUnusableAsync();
                while (_slots.Reader.Count < target && await FillOneAsync(stoppingToken))
                {
                }
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogFillFailed(e.Message);
            }

            // Sleep until a slot is taken; retry soon when the pool had nothing; look at the slots' age now and then.
            using var due = new CancellationTokenSource(_slots.Reader.Count < target ? RetryDelay : MaxSlotAge / 4, time);
            using var wake = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, due.Token);
            try
            {
                await _taken.Reader.ReadAsync(wake.Token);
                // Let the run that just ended get its result out before the lease and attach compete with it.
                await Task.Delay(ReplenishDelay, time, stoppingToken);
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
            }
        }
    }

    /// <summary>Hands every filled slot to the janitor, which removes them all before the process ends.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        while (_slots.Reader.TryRead(out var slot))
        {
            _held.TryRemove(slot.ContainerId, out _);
            slot.Stream.Dispose();
            _ = janitor.RemoveAsync(slot.ContainerId, now: true);
        }
    }

    private async Task<bool> FillOneAsync(CancellationToken cancellationToken)
    {
        // A trace of its own: the lease is done ahead of the run that will use it.
        using var activity = SandboxRunner.ActivitySource.StartActivity("fill warm slot");
        // Not cancelled half-way: a lease the pool granted must reach this process, which then owns the container.
        if (await prewarm.TryLeaseAsync(waitMs: 0, CancellationToken.None) is not { } containerId)
        {
            activity?.SetTag("executor.leased", false);
            return false;
        }
        activity?.SetTag("executor.container_id", ContainerIds.Abbreviate(containerId));
        _held[containerId] = true;
        MultiplexedStream stream;
        try
        {
            stream = await engine.AttachAsync(containerId, cancellationToken);
        }
        catch
        {
            _held.TryRemove(containerId, out _);
            _ = janitor.RemoveAsync(containerId, now: cancellationToken.IsCancellationRequested);
            throw;
        }
        // The launcher says nothing until it has a job, so this read completes early only if the container ends: then
        // the slot is dropped (and refilled) instead of taking a job into a dead stream, where a large write blocks.
        var buffer = new byte[SandboxRunner.ReadBufferSize];
        var read = stream.ReadOutputAsync(buffer, 0, buffer.Length, CancellationToken.None);
        _ = read.ContinueWith(
            t =>
            {
                _ = t.Exception;
                if (_held.ContainsKey(containerId))
                {
                    Replenish(); // still in its slot: it ended, so the filler drops it and fills another
                }
            },
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        if (!_slots.Writer.TryWrite(new AttachedSandbox(containerId, stream, time.GetUtcNow(), new PendingRead(read, buffer))))
        {
            _held.TryRemove(containerId, out _);
            stream.Dispose();
            _ = janitor.RemoveAsync(containerId);
        }
        return true;
    }

    /// <summary>Drops the slots that ended or grew old; the others go back in their order.</summary>
    private async Task DiscardUnusableAsync()
    {
        for (var count = _slots.Reader.Count; count > 0 && _slots.Reader.TryRead(out var slot); count--)
        {
            if (Usable(slot) && _slots.Writer.TryWrite(slot))
            {
                continue;
            }
            _held.TryRemove(slot.ContainerId, out _);
            await Discard(slot);
        }
    }

    private Task Discard(AttachedSandbox slot)
    {
        slot.Stream.Dispose();
        return janitor.RemoveAsync(slot.ContainerId);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not fill a warm slot: {Reason}")]
    private partial void LogFillFailed(string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Warm container {ContainerId} ended while it waited in a slot; dropped")]
    private partial void LogSlotEnded(string containerId);
}

/// <summary>A leased warm container with its attach stream already open, and the first read of its output waiting.</summary>
public sealed record AttachedSandbox(string ContainerId, MultiplexedStream Stream, DateTimeOffset AttachedAt, PendingRead Read);

/// <summary>A read of a sandbox's output already under way, and the buffer it fills: the run that takes it goes on from it.</summary>
public sealed record PendingRead(Task<MultiplexedStream.ReadResult> Task, byte[] Buffer);
