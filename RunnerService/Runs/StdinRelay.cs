using Docker.DotNet;
using Executor.Contracts;

namespace Executor.Runner.Runs;

/// <summary>
/// An interactive run's (or sandbox call's) input: fetched from SessionService (where the attached client's WebSocket
/// writes it, on any replica) and written to the launcher's stdin as b"i" frames, then b"c" at its end. Runs until the
/// input ends or the run does; a SessionService that does not answer is asked again (the script waits, under its own
/// timeout). <paramref name="writeFrame"/> writes one whole frame (a sandbox's stream is shared with other frames);
/// <paramref name="endOfInput"/>, when given, runs after b"c" (a run's stdin then closes; a sandbox's stays open).
/// </summary>
public sealed partial class StdinRelay(
    SessionClient session, string host, string sessionId, Func<byte[], CancellationToken, Task> writeFrame, Action? endOfInput, TimeProvider time,
    ILogger logger)
{
    /// <summary>A run's input: the frames go straight onto its stream, which closes at the end of input.</summary>
    public StdinRelay(SessionClient session, string host, string sessionId, MultiplexedStream stream, TimeProvider time, ILogger logger)
        : this(session, host, sessionId, (frame, cancellationToken) => stream.WriteAsync(frame, 0, frame.Length, cancellationToken), stream.CloseWrite,
            time, logger)
    {
    }

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
                    await WriteFrameAsync(LauncherFrames.Input, batch.Data, cancellationToken);
                    from = batch.Next;
                }
                if (batch.End)
                {
                    await WriteFrameAsync(LauncherFrames.InputEnd, [], cancellationToken);
                    endOfInput?.Invoke();
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

    private Task WriteFrameAsync(byte kind, byte[] data, CancellationToken cancellationToken) =>
        writeFrame(LauncherFrames.Encode(kind, data), cancellationToken);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Input of session {SessionId} could not be read: {Reason}")]
    private partial void LogReadFailed(string sessionId, string reason);
}
