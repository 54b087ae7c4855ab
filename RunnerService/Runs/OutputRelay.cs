using System.Buffers;
using System.Threading.Channels;
using Executor.Contracts;

namespace Executor.Runner.Runs;

/// <summary>
/// A run's output, sent to SessionService as it happens (one streamed request per run, opened at the first piece of
/// output that arrives before the run has ended: a run that ends at once, like hello world, streams nothing and its
/// result carries everything). Best effort, and never in the run's way: pieces queue up, one writer sends them in
/// order, and a stream that cannot keep up, or breaks, stops; the result has all the output anyway.
/// </summary>
public sealed partial class OutputRelay(SessionClient session, string host, string sessionId, ILogger logger) : IAsyncDisposable
{
    private const int MaxQueued = 4096;

    private Channel<byte[]>? _frames;
    private Task? _sending;

    /// <summary>Queues a piece of output; the first one opens the stream.</summary>
    public void Send(bool stdout, long offset, ReadOnlySpan<byte> data)
    {
        if (_frames is null)
        {
            _frames = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(MaxQueued) { SingleReader = true, SingleWriter = true });
            _sending = SendAsync(_frames.Reader);
        }
        var frame = new ArrayBufferWriter<byte>(OutputFrames.HeaderSize + data.Length);
        OutputFrames.Write(frame, stdout, offset, data);
        if (!_frames.Writer.TryWrite(frame.WrittenSpan.ToArray()))
        {
            _frames.Writer.TryComplete(); // falling behind: the live view stops here, the result follows
        }
    }

    /// <summary>Ends the stream and waits (a little) for SessionService to have it all, before the result is reported.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_frames is null || _sending is null)
        {
            return;
        }
        _frames.Writer.TryComplete();
        try
        {
            await _sending.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException e)
        {
            LogStreamFailed(sessionId, e.Message);
        }
    }

    private async Task SendAsync(ChannelReader<byte[]> frames)
    {
        try
        {
            await session.StreamOutputAsync(host, sessionId, frames, CancellationToken.None);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
        {
            LogStreamFailed(sessionId, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "The live output of session {SessionId} stopped: {Reason}; its result has it all")]
    private partial void LogStreamFailed(string sessionId, string reason);
}
