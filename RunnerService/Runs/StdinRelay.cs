using System.Buffers.Binary;
using Docker.DotNet;
using Executor.Contracts;

namespace Executor.Runner.Runs;

/// <summary>
/// An interactive run's input: fetched from SessionService (where the attached client's WebSocket writes it, on any
/// replica) and written to the launcher's stdin as b"i" frames, then b"c" at its end. Runs until the input ends or the
/// run does; a SessionService that does not answer is asked again (the script waits, under its own timeout).
/// </summary>
public sealed partial class StdinRelay(SessionClient session, string host, string sessionId, MultiplexedStream stream, TimeProvider time, ILogger logger)
{
    private static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(1);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        long from = 0;
        try
        {
            while (true)
            {
                StdinBatch batch;
                try
                {
                    batch = await session.ReadStdinAsync(host, sessionId, from, cancellationToken);
                }
                catch (Exception e) when (e is HttpRequestException or IOException or InvalidOperationException
                    || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
                {
                    LogReadFailed(sessionId, e.Message);
                    await Task.Delay(RetryAfter, time, cancellationToken);
                    continue;
                }
                if (batch.Data.Length > 0)
                {
                    await WriteFrameAsync((byte)'i', batch.Data, cancellationToken);
                    from = batch.Next;
                }
                if (batch.End)
                {
                    await WriteFrameAsync((byte)'c', [], cancellationToken);
                    stream.CloseWrite();
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The run is over.
        }
        catch (IOException e)
        {
            LogReadFailed(sessionId, e.Message); // the sandbox is gone
        }
    }

    private async Task WriteFrameAsync(byte kind, byte[] data, CancellationToken cancellationToken)
    {
        var frame = new byte[5 + data.Length];
        frame[0] = kind;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)data.Length);
        data.CopyTo(frame, 5);
        await stream.WriteAsync(frame, 0, frame.Length, cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Input of session {SessionId} could not be read: {Reason}")]
    private partial void LogReadFailed(string sessionId, string reason);
}
