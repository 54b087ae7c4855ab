using System.Collections.Concurrent;
using System.Threading.Channels;
using Executor.Contracts;
using Executor.Sandbox;
using Microsoft.Extensions.Options;

namespace Executor.Runner.Runs;

/// <summary>
/// Delivers each run's result to SessionService: at once, and when that fails (SessionService restarting, a replica
/// gone) again with backoff until it is accepted, for up to <see cref="GiveUpAfter"/>. By then the host has been
/// declared dead or the session ended otherwise: a result is never lost while anyone could still want it.
/// </summary>
public sealed partial class ResultReporter(
    SessionClient session,
    IOptions<SandboxOptions> sandbox,
    TimeProvider time,
    ILogger<ResultReporter> logger) : BackgroundService
{
    private static readonly TimeSpan GiveUpAfter = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(10);

    private readonly Channel<Pending> _retries = Channel.CreateBounded<Pending>(
        new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.Wait });

    private readonly ConcurrentDictionary<string, bool> _undelivered = new();

    /// <summary>
    /// Sessions whose run has ended here and whose result SessionService has not accepted yet. The heartbeat lists them
    /// with the runs in progress: a run it stopped listing would be taken for lost (internal_error) before its result,
    /// held back while SessionService restarted, arrived.
    /// </summary>
    public IEnumerable<string> Undelivered => _undelivered.Keys;

    /// <summary>The run has ended: its result is this host's to deliver from now on (call before the run stops being listed).</summary>
    public void Hold(string sessionId) => _undelivered[sessionId] = true;

    /// <summary>Reports a result now; a failure queues it for retries (returns once it was delivered or queued).</summary>
    public async Task ReportAsync(string sessionId, RunResult result)
    {
        Hold(sessionId);
        var pending = new Pending(sessionId, result, time.GetUtcNow(), Attempt: 1);
        if (!await TryDeliverAsync(pending, CancellationToken.None))
        {
            await _retries.Writer.WriteAsync(pending with { Attempt = 2 });
        }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Parallel.ForEachAsync(_retries.Reader.ReadAllAsync(stoppingToken),
            new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = stoppingToken },
            async (pending, cancellationToken) =>
            {
                var backoff = TimeSpan.FromMilliseconds(Math.Min(MaxBackoff.TotalMilliseconds, 100 * Math.Pow(2, pending.Attempt)));
                await Task.Delay(backoff, time, cancellationToken);
                if (await TryDeliverAsync(pending, cancellationToken))
                {
                    return;
                }
                if (time.GetUtcNow() - pending.Since > GiveUpAfter)
                {
                    _undelivered.TryRemove(pending.SessionId, out _);
                    LogGaveUp(pending.SessionId, (int)GiveUpAfter.TotalMinutes);
                    return;
                }
                await _retries.Writer.WriteAsync(pending with { Attempt = pending.Attempt + 1 }, cancellationToken);
            });

    private async Task<bool> TryDeliverAsync(Pending pending, CancellationToken cancellationToken)
    {
        try
        {
            await session.ReportAsync(sandbox.Value.Host, pending.SessionId, pending.Result, cancellationToken);
            _undelivered.TryRemove(pending.SessionId, out _);
            return true;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or Polly.ExecutionRejectedException
            && !cancellationToken.IsCancellationRequested)
        {
            LogDeliveryFailed(pending.SessionId, pending.Attempt, e.Message);
            return false;
        }
    }

    private sealed record Pending(string SessionId, RunResult Result, DateTimeOffset Since, int Attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not deliver the result of session {SessionId} (attempt {Attempt}): {Reason}; retrying")]
    private partial void LogDeliveryFailed(string sessionId, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Gave up delivering the result of session {SessionId} after {Minutes} min")]
    private partial void LogGaveUp(string sessionId, int minutes);
}
