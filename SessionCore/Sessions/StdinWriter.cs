using System.Threading.Channels;
using Executor.SessionCore.Storage;

namespace Executor.SessionCore.Sessions;

/// <summary>
/// One attached client's interactive input on its way to the store, in few rows: every append is a write under the
/// store's one writer, so a client sending a byte per message would otherwise stall everyone's writes. The first
/// message goes at once; after a write, what arrives within <see cref="Gather"/> waits and goes in the next one (at most
/// <see cref="MaxBatchBytes"/> each, and so at most one write per <see cref="Gather"/> per client). A client that sends
/// faster than that is read no further (its messages queue up to <see cref="MaxQueued"/>). The order is kept, and
/// <see cref="CompleteAsync"/> writes everything queued before the input may end.
/// </summary>
public sealed class StdinWriter
{
    public static readonly TimeSpan Gather = TimeSpan.FromMilliseconds(20);
    public const int MaxBatchBytes = 64 * 1024;
    public const int MaxQueued = 4096;

    private readonly IStdinLog _store;
    private readonly string _sessionId;
    private readonly long _maxBytes;
    private readonly TimeProvider _time;
    private readonly Func<StdinAppend, Task> _written;
    private readonly Channel<byte[]> _queue = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(MaxQueued)
    {
        SingleReader = true,
        SingleWriter = true,
        FullMode = BoundedChannelFullMode.Wait,
    });
    private readonly Task _writing;

    /// <param name="written">Told the outcome of each write: after anything but Appended, nothing more is written.</param>
    public StdinWriter(IStdinLog store, string sessionId, long maxBytes, TimeProvider time, Func<StdinAppend, Task> written)
    {
        _store = store;
        _sessionId = sessionId;
        _maxBytes = maxBytes;
        _time = time;
        _written = written;
        _writing = WriteQueuedAsync();
    }

    /// <summary>Queues a message (waits while <see cref="MaxQueued"/> are); false once writing has stopped.</summary>
    public async ValueTask<bool> WriteAsync(byte[] data, CancellationToken cancellationToken)
    {
        try
        {
            await _queue.Writer.WriteAsync(data, cancellationToken);
            return true;
        }
        catch (ChannelClosedException)
        {
            return false;
        }
    }

    /// <summary>Writes what is queued, and takes no more.</summary>
    public Task CompleteAsync()
    {
        _queue.Writer.TryComplete();
        return _writing;
    }

    private async Task WriteQueuedAsync()
    {
        try
        {
            await WriteBatchesAsync();
        }
        finally
        {
            _queue.Writer.TryComplete(); // a store that failed takes no more either: the client is told its input ended
        }
    }

    private async Task WriteBatchesAsync()
    {
        var reader = _queue.Reader;
        var lastWrite = _time.GetTimestamp() - (long)(Gather.TotalSeconds * _time.TimestampFrequency);
        var batch = new List<byte[]>();
        while (await reader.WaitToReadAsync())
        {
            var wait = Gather - _time.GetElapsedTime(lastWrite);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, _time);
            }
            batch.Clear();
            var size = 0L;
            while (reader.TryPeek(out var next) && (batch.Count == 0 || size + next.Length <= MaxBatchBytes) && reader.TryRead(out next))
            {
                batch.Add(next);
                size += next.Length;
            }
            var outcome = await AppendAsync(batch);
            lastWrite = _time.GetTimestamp();
            await _written(outcome);
            if (outcome != StdinAppend.Appended)
            {
                return;
            }
        }
    }

    /// <summary>The batch in one row; when that passes the limit, its messages one by one, so those within it still count.</summary>
    private async Task<StdinAppend> AppendAsync(List<byte[]> batch)
    {
        var whole = batch.Count == 1 ? batch[0] : Concat(batch);
        var outcome = await _store.AppendStdinAsync(_sessionId, whole, _maxBytes, CancellationToken.None);
        if (outcome != StdinAppend.OverLimit || batch.Count == 1)
        {
            return outcome;
        }
        foreach (var message in batch)
        {
            if ((outcome = await _store.AppendStdinAsync(_sessionId, message, _maxBytes, CancellationToken.None)) != StdinAppend.Appended)
            {
                return outcome;
            }
        }
        return outcome;
    }

    private static byte[] Concat(List<byte[]> messages)
    {
        var whole = new byte[messages.Sum(m => m.Length)];
        var at = 0;
        foreach (var message in messages)
        {
            message.CopyTo(whole, at);
            at += message.Length;
        }
        return whole;
    }
}
