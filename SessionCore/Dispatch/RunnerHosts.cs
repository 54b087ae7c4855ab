using Executor.Contracts;
using Executor.SessionCore.Storage;

namespace Executor.SessionCore.Dispatch;

/// <summary>
/// The runner hosts as SessionService sees them, through their heartbeats: which are alive, whether any can run
/// scripts now (else submissions get 503), what each must hear (cancels, prewarm requests). A host that restarted
/// loses the runs of its earlier process; a host that stops listing a run it was given lost it; a host silent for
/// <see cref="HostRoutes.HostTimeout"/> is dead. Each of those runs ends as internal_error naming the host.
/// </summary>
public sealed partial class RunnerHosts(
    IHostDirectory directory,
    SessionCompletions completions,
    SessionSignals signals,
    Sandboxes.SandboxLedger sandboxes,
    TimeProvider time,
    ILogger<RunnerHosts> logger)
{
    /// <summary>A run a host was given this long ago and does not list is lost (it had time to register it).</summary>
    private static readonly TimeSpan ListingGrace = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan AvailabilityCacheTime = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan PrewarmCacheTime = TimeSpan.FromSeconds(1);

    private (DateTimeOffset At, string? Problem) _availability = (DateTimeOffset.MinValue, null);
    private (DateTimeOffset At, PrewarmCommand? Latest) _prewarm = (DateTimeOffset.MinValue, null);

    /// <summary>When this process began to hear heartbeats.</summary>
    private readonly DateTimeOffset _listeningSince = time.GetUtcNow();

    /// <summary>Records a heartbeat and answers with what the host must do, as soon as there is something (or after the interval).</summary>
    public async Task<HeartbeatResponse> BeatAsync(string host, Heartbeat beat, TimeSpan hold, CancellationToken cancellationToken)
    {
        if (await directory.BeatAsync(host, beat, cancellationToken) is { } previous)
        {
            LogRestarted(host, previous, beat.Instance);
            await EndAsync(await directory.EndRunsAsync(host, keepInstance: beat.Instance, Lost(host,
                $"The runner host '{host}' restarted during the run; the script is not started again."), cancellationToken));
            await sandboxes.HostLostAsync(host, beat.Instance, $"its runner host '{host}' restarted", cancellationToken);
        }
        await EndAsync(await directory.EndLostRunsAsync(host, beat.Instance, beat.Running, time.GetUtcNow() - ListingGrace,
            Lost(host, $"The runner host '{host}' no longer knows the run; the script is not started again."), cancellationToken));

        var deadline = time.GetUtcNow() + hold;
        var endSandboxes = await sandboxes.ReconcileAsync(host, beat, cancellationToken);
        var woken = false;
        while (true)
        {
            var called = signals.WhenHostCalled(host, cancellationToken);
            var cancels = await directory.CancelsForAsync(host, cancellationToken);
            var prewarm = await LatestPrewarmAsync(fresh: woken, cancellationToken);
            if (prewarm is not null && prewarm.Generation <= beat.PrewarmGeneration)
            {
                prewarm = null;
            }
            var left = deadline - time.GetUtcNow();
            if (cancels.Count > 0 || prewarm is not null || endSandboxes.Count > 0 || left <= TimeSpan.Zero)
            {
                return new HeartbeatResponse(cancels, prewarm, endSandboxes);
            }
            await Task.WhenAny(called, Task.Delay(left, time, cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
            if (!called.IsCompleted)
            {
                // The interval is over and nobody called: nothing new to say (what a lost signal would have said, the
                // host hears at its next beat, which follows at once).
                return new HeartbeatResponse([], null, []);
            }
            woken = true;
            if (beat.Sandboxes is { Count: > 0 })
            {
                // Called because one of its sandboxes ended here (deleted, idle, expired)? Then it must remove it now.
                endSandboxes = await sandboxes.ReconcileAsync(host, beat with { SandboxesEnded = null }, cancellationToken);
            }
        }
    }

    /// <summary>
    /// The latest prewarm request, read at most once a second for all the heartbeats of this replica, unless
    /// <paramref name="fresh"/> (the heartbeat was woken: a request was just made, here or on another replica).
    /// </summary>
    private async Task<PrewarmCommand?> LatestPrewarmAsync(bool fresh, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var (at, latest) = _prewarm;
        if (fresh || now - at >= PrewarmCacheTime)
        {
            latest = await directory.LatestPrewarmAsync(cancellationToken);
            _prewarm = (now, latest);
        }
        return latest;
    }

    /// <summary>Null while some live host can run scripts; otherwise why none can (asked at most once a second).</summary>
    public async Task<string?> UnavailableAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var (at, problem) = _availability;
        if (now - at < AvailabilityCacheTime)
        {
            return problem;
        }
        var hosts = await directory.ListHostsAsync(cancellationToken);
        var alive = hosts.Where(h => h.State == HostStates.Alive && now - h.LastSeen < HostRoutes.HostTimeout).ToList();
        problem = alive.Count == 0
            ? "no runner host is connected"
            : alive.All(h => h.EngineProblem is not null) ? string.Join("; ", alive.Select(h => $"{h.Id}: {h.EngineProblem}")) : null;
        _availability = (now, problem);
        return problem;
    }

    /// <summary>The most any live host's pool may be asked to keep (POST /prewarm?count).</summary>
    public async Task<int?> MaxPoolSizeAsync(CancellationToken cancellationToken) =>
        (await directory.ListHostsAsync(cancellationToken)).Where(h => h.State == HostStates.Alive && h.Pool is not null)
            .Select(h => (int?)h.Pool!.MaxSize).Min();

    /// <summary>Hosts silent for too long are dead: their runs end. Any replica may do it; each run ends once.</summary>
    public async Task SweepDeadAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (now - _listeningSince < HostRoutes.HostTimeout)
        {
            // Just started: while this process was down (a restart of the one replica) no host could reach it, so a host
            // gets a whole timeout to come back through its heartbeat's retries before its silence counts against it.
            return;
        }
        foreach (var host in await directory.MarkDeadAsync(now - HostRoutes.HostTimeout, cancellationToken))
        {
            LogDead(host, (int)HostRoutes.HostTimeout.TotalSeconds);
            await EndAsync(await directory.EndRunsAsync(host, keepInstance: null, Lost(host,
                $"The runner host '{host}' stopped answering (no heartbeat for {HostRoutes.HostTimeout.TotalSeconds:0} s); "
                + "the script is not started again."), cancellationToken));
            await sandboxes.HostLostAsync(host, null,
                $"its runner host '{host}' stopped answering (no heartbeat for {HostRoutes.HostTimeout.TotalSeconds:0} s)", cancellationToken);
        }
    }

    private async Task EndAsync(IReadOnlyList<SessionRecord> ended)
    {
        foreach (var session in ended)
        {
            completions.Completed(session.Id, session);
        }
        await Task.CompletedTask;
    }

    private RunResult Lost(string host, string detail)
    {
        var now = time.GetUtcNow();
        return new RunResult { Status = RunStatus.InternalError, Detail = detail, RunnerHost = host, StartedAt = now, FinishedAt = now };
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Runner host {Host} restarted (process {Previous} is now {Instance}): its runs were lost")]
    private partial void LogRestarted(string host, string previous, string instance);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Runner host {Host} is dead: no heartbeat for {Seconds} s")]
    private partial void LogDead(string host, int seconds);
}
