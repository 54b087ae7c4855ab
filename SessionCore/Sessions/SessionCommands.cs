using Executor.Contracts;
using Executor.SessionCore.Access;
using Executor.SessionCore.Dispatch;
using Executor.SessionCore.Storage;
using Executor.SessionCore.Telemetry;
using Microsoft.Extensions.Options;

namespace Executor.SessionCore.Sessions;

/// <summary>
/// The operations on a session once it is submitted (<see cref="SessionSubmitter"/> submits), the same for every
/// surface and for the runner hosts: find a caller's own session, wait for its end, cancel it, and, for the host that
/// runs it, complete it with its result and hand it its input. The endpoints only map requests and outcomes.
/// </summary>
public sealed class SessionCommands(
    ISessionStore store,
    IStdinLog stdin,
    SessionCompletions completions,
    SessionSignals signals,
    SubmittedJobs submitted,
    SessionTelemetry telemetry,
    Sandboxes.SandboxLedger sandboxes,
    IOptions<SessionServiceOptions> options,
    IOptions<AuthOptions> auth,
    ILoggerFactory loggers,
    TimeProvider time)
{
    /// <summary>How long a cancel waits for the runner host to kill the run before it ends the session itself.</summary>
    public static readonly TimeSpan CancelWait = TimeSpan.FromSeconds(10);

    /// <summary>The request's caller.</summary>
    public Caller CallerOf(HttpContext context) => Caller.Of(context, auth.Value);

    /// <summary>
    /// The session, if it exists and the caller may see it (its own; an operator sees every one). Null otherwise: not
    /// found either way, so ids leak nothing.
    /// </summary>
    public async Task<SessionRecord?> FindOwnedAsync(string sessionId, Caller caller, CancellationToken cancellationToken) =>
        SessionIds.IsWellFormed(sessionId) && await store.FindAsync(sessionId, cancellationToken) is { } session && caller.Owns(session.Owner)
            ? session
            : null;

    /// <inheritdoc cref="FindOwnedAsync(string, Caller, CancellationToken)"/>
    public Task<SessionRecord?> FindOwnedAsync(string sessionId, HttpContext context, CancellationToken cancellationToken) =>
        FindOwnedAsync(sessionId, CallerOf(context), cancellationToken);

    /// <summary>The session as it is once it has ended, or when the wait is over.</summary>
    public async Task<SessionRecord> WaitAsync(SessionRecord session, TimeSpan wait, CancellationToken cancellationToken) =>
        SessionStatus.IsTerminal(session.Status) || wait <= TimeSpan.Zero
            ? session
            : await completions.WaitAsync(session.Id, wait, cancellationToken) ?? session;

    /// <summary>
    /// Cancels a session: a queued one ends here; a running one is killed by its runner host (told at once, through its
    /// heartbeat), or ended here when the host does not confirm within <see cref="CancelWait"/>. An ended one keeps its
    /// result. Returns the session as it is then.
    /// </summary>
    public async Task<SessionRecord> CancelAsync(SessionRecord session, CancellationToken cancellationToken)
    {
        var sessionId = session.Id;
        if (session.Status == SessionStatus.Queued)
        {
            // Not claimed yet: it ends here (a claim racing this one finds it running, and the next branch applies).
            session = await EndAsync(sessionId, "Cancelled by a cleanup request before it started.", cancellationToken)
                ?? await store.FindAsync(sessionId, cancellationToken) ?? session;
        }
        if (session.Status == SessionStatus.Running)
        {
            session = await store.RequestCancelAsync(sessionId, cancellationToken) ?? session;
            if (session.Host is { } host)
            {
                signals.CallHost(host);
            }
            session = await completions.WaitAsync(sessionId, CancelWait, cancellationToken) ?? session;
            if (!SessionStatus.IsTerminal(session.Status))
            {
                session = await EndAsync(sessionId,
                    $"Cancelled by a cleanup request; its runner host '{session.Host}' did not confirm within {CancelWait.TotalSeconds:0} s.",
                    cancellationToken) ?? await store.FindAsync(sessionId, cancellationToken) ?? session;
            }
        }
        return session;
    }

    private async Task<SessionRecord?> EndAsync(string sessionId, string detail, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var ended = await store.CompleteAsync(sessionId,
            new RunResult { Status = SessionStatus.Cancelled, Detail = detail, StartedAt = now, FinishedAt = now }, host: null, cancellationToken);
        if (ended is not null)
        {
            completions.Completed(sessionId, ended);
        }
        return ended;
    }

    /// <summary>
    /// A runner host's result for a session: the first counts; a repeated or late one is not stored (the host stops
    /// retrying all the same). Only the host that claimed the session may complete it.
    /// </summary>
    public async Task<(HostSession Outcome, bool Stored)> CompleteAsync(string host, string sessionId, RunResult result, CancellationToken cancellationToken)
    {
        if (!SessionIds.IsWellFormed(sessionId))
        {
            return (HostSession.NotFound, false);
        }
        SessionRecord? stored;
        using (var activity = SessionTelemetry.Source.StartActivity("store result"))
        {
            activity?.SetTag(SessionTelemetry.SessionId, sessionId);
            activity?.SetTag(SessionTelemetry.Status, result.Status);
            stored = await store.CompleteAsync(sessionId, result with { RunnerHost = host }, host, cancellationToken);
        }
        if (stored is null)
        {
            return await store.FindAsync(sessionId, cancellationToken) switch
            {
                null => (HostSession.NotFound, false),
                { Host: var claimedBy } when claimedBy != host => (HostSession.NotTheHosts, false),
                _ => (HostSession.Found, false),
            };
        }
        submitted.Forget(sessionId);
        Audit.Egress(loggers, stored.Owner, sessionId, result.Egress);
        // A create's waiter must find its sandbox running: the row changes first. Any other command's waiter is woken
        // first (its sandbox's activity is bookkeeping, off the caller's path).
        var created = stored.Options.Sandbox?.Kind == SandboxCommandKinds.Create;
        if (created)
        {
            await sandboxes.CommandEndedAsync(stored, host, result, cancellationToken);
        }
        completions.Completed(sessionId, stored);
        if (!created && stored.Options.Sandbox is not null)
        {
            await sandboxes.CommandEndedAsync(stored, host, result, cancellationToken);
        }
        if (stored.Options.Sandbox is null)
        {
            telemetry.Ended(result.Status, result.WarmStart, result.DurationMs, host, stored.Owner);
        }
        return (HostSession.Found, true);
    }

    /// <summary>
    /// An interactive run's input from <paramref name="from"/> on, for the host running it (a long poll: it answers when
    /// there is input or its end, or after <paramref name="wait"/> with nothing). With no client attached within
    /// Sessions:StdinAttachGraceSeconds of the start, the input ends: the script reads end of file.
    /// </summary>
    public async Task<(HostSession Outcome, StdinBatch? Batch)> ReadStdinAsync(
        string host, string sessionId, long from, TimeSpan wait, CancellationToken cancellationToken)
    {
        if (!SessionIds.IsWellFormed(sessionId) || from < 0 || await store.FindAsync(sessionId, cancellationToken) is not { } session)
        {
            return (HostSession.NotFound, null);
        }
        // A caller's input is for the host running the session, and no other.
        if (session.Host != host)
        {
            return (HostSession.NotTheHosts, null);
        }
        var grace = TimeSpan.FromSeconds(options.Value.StdinAttachGraceSeconds);
        var until = time.GetUtcNow() + wait;
        while (true)
        {
            var arrived = signals.WhenInput(sessionId, cancellationToken); // listen first, then look
            var read = await stdin.ReadStdinAsync(sessionId, from, cancellationToken);
            if (read.Status is null)
            {
                return (HostSession.NotFound, null);
            }
            var data = read.Chunks.SelectMany(c => c.Data.Skip((int)Math.Max(0, from - c.Offset))).ToArray();
            var ended = read.ClosedAt is not null || SessionStatus.IsTerminal(read.Status);
            if (data.Length > 0 || ended)
            {
                return (HostSession.Found, new StdinBatch(data, from + data.Length, ended));
            }
            var now = time.GetUtcNow();
            if (read.AttachedAt is null && read.StartedAt is { } started && now >= started + grace)
            {
                // Nobody came: end of file, for a client that comes late too. Read once more: a client that attached
                // and wrote just before the close has its input delivered ahead of the end.
                await stdin.CloseStdinAsync(sessionId, cancellationToken);
                continue;
            }
            if (now >= until)
            {
                return (HostSession.Found, new StdinBatch([], from, End: false));
            }
            await Task.WhenAny(arrived, Task.Delay(TimeSpan.FromSeconds(1), time, cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
        }
    }
}

/// <summary>Whether a runner host's call found the session it names, as that host's.</summary>
public enum HostSession
{
    Found,
    NotFound,
    NotTheHosts,
}
