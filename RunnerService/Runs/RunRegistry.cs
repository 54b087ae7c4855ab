using System.Collections.Concurrent;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace Executor.Runner.Runs;

/// <summary>
/// The runs of this process, by session id. Starting a run that is already running joins it, and asking again
/// for a run that finished recently returns its result: a retried request never runs a script twice.
/// </summary>
public sealed class RunRegistry(
    SandboxRunner runner,
    IMemoryCache finished,
    IOptions<RunnerOptions> options,
    IHostApplicationLifetime lifetime,
    TimeProvider time) : IHostedService
{
    private readonly ConcurrentDictionary<string, ActiveRun> _active = new();
    private readonly Lock _startLock = new();

    public Task<RunResult> StartOrJoin(RunRequest request)
    {
        if (finished.TryGetValue(request.SessionId, out RunResult? done))
        {
            return Task.FromResult(done!);
        }
        lock (_startLock)
        {
            if (_active.TryGetValue(request.SessionId, out var existing))
            {
                return existing.Completion;
            }
            if (request.RecoverOnly)
            {
                var now = time.GetUtcNow();
                return Task.FromResult(new RunResult
                {
                    Status = RunStatus.InternalError,
                    Detail = "The run was interrupted: its runner stopped before it reported a result. It is not started again.",
                    StartedAt = now,
                    FinishedAt = now,
                });
            }
            var run = new ActiveRun(request.SessionId);
            _active[request.SessionId] = run;
            run.Start(r => RunAndRecordAsync(request, r));
            return run.Completion;
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // Cancelled by ApplicationStopping already; each run ends in its own finally, handing its container over.
        var ending = _active.Values.Select(run => (Task)run.Completion).ToArray();
        try
        {
            await Task.WhenAll(ending).WaitAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
        }
    }

    public ActiveRun? Find(string sessionId) => _active.GetValueOrDefault(sessionId);

    public int ActiveCount => _active.Count;

    public RunResult? FindFinished(string sessionId) => finished.Get<RunResult>(sessionId);

    /// <summary>Containers this runner holds for runs in progress.</summary>
    public IEnumerable<string> ContainerIds => _active.Values.Select(r => r.ContainerId).OfType<string>();

    /// <summary>
    /// Stops a run and waits until it has ended and its container is gone. A run not seen yet is cancelled ahead:
    /// the id is remembered as cancelled, so a start request that arrives later (already in flight) never runs.
    /// </summary>
    public async Task<RunResult> CancelAsync(string sessionId)
    {
        ActiveRun? run;
        lock (_startLock)
        {
            if (!_active.TryGetValue(sessionId, out run))
            {
                if (FindFinished(sessionId) is { } done)
                {
                    return done;
                }
                var now = time.GetUtcNow();
                var cancelled = new RunResult
                {
                    Status = RunStatus.Cancelled,
                    Detail = "Cancelled by a cleanup request before it started.",
                    StartedAt = now,
                    FinishedAt = now,
                };
                Remember(sessionId, cancelled);
                return cancelled;
            }
        }
        run.Cancel();
        var result = await run.Completion;
        await run.Removed;
        return result;
    }

    private void Remember(string sessionId, RunResult result) =>
        finished.Set(sessionId, result, new MemoryCacheEntryOptions
        {
            AbsoluteExpirationRelativeToNow = TimeSpan.FromMinutes(options.Value.ResultRetentionMinutes),
            Size = 1,
        });

    private async Task<RunResult> RunAndRecordAsync(RunRequest request, ActiveRun run)
    {
        await Task.Yield();
        try
        {
            var result = await runner.RunAsync(request, run, lifetime.ApplicationStopping);
            Remember(request.SessionId, result);
            return result;
        }
        finally
        {
            _active.TryRemove(request.SessionId, out _);
            _ = run.Removed.ContinueWith(_ => run.Dispose(), TaskScheduler.Default);
        }
    }
}
