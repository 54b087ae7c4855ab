using System.Collections.Concurrent;
using Executor.Contracts;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace Executor.Runner.Runs;

/// <summary>
/// The runs of this host, by session id. A session is run at most once here: a job for a session that runs or ran
/// recently is ignored. Each result goes to SessionService through the reporter. At shutdown the runs in progress are
/// cancelled (they end as internal_error) and awaited, so their containers reach the janitor before it removes what
/// is left.
/// </summary>
public sealed class RunRegistry(
    SandboxRunner runner,
    ResultReporter reporter,
    IMemoryCache finished,
    IOptions<RunnerOptions> options,
    IHostApplicationLifetime lifetime) : IHostedService
{
    private readonly ConcurrentDictionary<string, ActiveRun> _active = new();
    private readonly Lock _startLock = new();
    private TaskCompletionSource _slotFreed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int ActiveCount => _active.Count;

    /// <summary>Sessions running here now.</summary>
    public IReadOnlyList<string> ActiveIds => [.. _active.Keys];

    /// <summary>Containers this runner holds for runs in progress.</summary>
    public IEnumerable<string> ContainerIds => _active.Values.Select(r => r.ContainerId).OfType<string>();

    /// <summary>Completes when a run ends (a slot is free again).</summary>
    public Task SlotFreed => Volatile.Read(ref _slotFreed).Task;

    /// <summary>Starts the job's run unless the session runs, or ran, here already.</summary>
    public void Start(RunJob job)
    {
        lock (_startLock)
        {
            if (_active.ContainsKey(job.SessionId) || finished.TryGetValue(job.SessionId, out _))
            {
                return;
            }
            var run = new ActiveRun(job.SessionId);
            _active[job.SessionId] = run;
            run.Start(r => RunAndReportAsync(job, r));
        }
    }

    public ActiveRun? Find(string sessionId) => _active.GetValueOrDefault(sessionId);

    public RunResult? FindFinished(string sessionId) => finished.Get<RunResult>(sessionId);

    /// <summary>Stops a run and waits until it has ended and its container is gone; null when it does not run here.</summary>
    public async Task<RunResult?> CancelAsync(string sessionId)
    {
        if (!_active.TryGetValue(sessionId, out var run))
        {
            return FindFinished(sessionId);
        }
        run.Cancel();
        var result = await run.Completion;
        await run.Removed;
        return result;
    }

    /// <summary>Kills every run (the host was cut off from SessionService, which has ended them already).</summary>
    public void CancelAll()
    {
        foreach (var run in _active.Values)
        {
            run.Cancel();
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

    private async Task<RunResult> RunAndReportAsync(RunJob job, ActiveRun run)
    {
        await Task.Yield();
        // The run, and the report of its result, continue the trace of the request that submitted it.
        System.Diagnostics.ActivityContext.TryParse(job.TraceParent, null, out var submitted);
        using var activity = SandboxRunner.ActivitySource.StartActivity("run session", System.Diagnostics.ActivityKind.Consumer, submitted);
        activity?.SetTag("executor.session_id", job.SessionId);
        activity?.SetTag("executor.runner_host", runner.Host);
        RunResult result;
        try
        {
            result = await runner.RunAsync(job, run, lifetime.ApplicationStopping);
            reporter.Hold(job.SessionId); // listed as undelivered before it stops being listed as running
            finished.Set(job.SessionId, result, new MemoryCacheEntryOptions
            {
                AbsoluteExpirationRelativeToNow = TimeSpan.FromMinutes(options.Value.ResultRetentionMinutes),
                Size = 1,
            });
        }
        finally
        {
            _active.TryRemove(job.SessionId, out _);
            Interlocked.Exchange(ref _slotFreed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            _ = run.Removed.ContinueWith(_ => run.Dispose(), TaskScheduler.Default);
        }
        if (run.CancelRequested)
        {
            await run.Removed; // a cleanup answers once the container is gone, and it answers when this result arrives
        }
        activity?.SetTag("executor.status", result.Status);
        activity?.SetTag("executor.exit_code", result.ExitCode);
        activity?.SetTag("executor.warm", result.WarmStart);
        await reporter.ReportAsync(job.SessionId, result);
        return result;
    }
}
