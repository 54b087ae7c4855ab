using System.Threading.Channels;
using Executor.Session.Sessions;
using Microsoft.Extensions.Options;

namespace Executor.Session.Dispatch;

/// <summary>
/// Sessions waiting for a run slot. A submission reserves its place before it is stored, so a full queue turns
/// a request away (429) without ever dropping a session that was accepted.
/// </summary>
public sealed class RunQueue
{
    private readonly Channel<QueuedSession> _channel;
    private readonly int _capacity;
    private int _reserved;

    public RunQueue(IOptions<SessionServiceOptions> options)
    {
        _capacity = options.Value.QueueCapacity;
        _channel = Channel.CreateBounded<QueuedSession>(new BoundedChannelOptions(_capacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleWriter = false,
            SingleReader = false,
        });
    }

    public int Count => Volatile.Read(ref _reserved);

    /// <summary>Claims a place for a new session; false when the queue is full.</summary>
    public bool TryReserve()
    {
        if (Interlocked.Increment(ref _reserved) > _capacity)
        {
            Interlocked.Decrement(ref _reserved);
            return false;
        }
        return true;
    }

    /// <summary>Gives back a place claimed by <see cref="TryReserve"/> that was not used.</summary>
    public void Unreserve() => Interlocked.Decrement(ref _reserved);

    /// <summary>Queues a session whose place was reserved: there is always room for it.</summary>
    public void EnqueueReserved(QueuedSession session)
    {
        if (!_channel.Writer.TryWrite(session))
        {
            throw new InvalidOperationException("A reserved place in the run queue was missing");
        }
    }

    /// <summary>Queues a session found unfinished after a restart, waiting for room when the queue is full.</summary>
    public ValueTask EnqueueRecoveredAsync(string sessionId, bool wasRunning, DateTimeOffset now, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _reserved);
        return _channel.Writer.WriteAsync(new QueuedSession(sessionId, null, default, now, wasRunning), cancellationToken);
    }

    public async IAsyncEnumerable<QueuedSession> ReadAllAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var queued in _channel.Reader.ReadAllAsync(cancellationToken))
        {
            Interlocked.Decrement(ref _reserved);
            yield return queued;
        }
    }
}

/// <summary>
/// A session waiting for a run slot, with its run request when it was just submitted (no need to read it back), and
/// the trace of the request that submitted it, so that its run continues that trace. <see cref="WasRunning"/>: found
/// running after a restart; it may only be recovered, never started again.
/// </summary>
public sealed record QueuedSession(
    string SessionId, RunRequest? Request, System.Diagnostics.ActivityContext Submitted, DateTimeOffset EnqueuedAt, bool WasRunning = false);
