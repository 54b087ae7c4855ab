using System.Collections.Concurrent;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;

namespace Executor.SessionCore.Dispatch;

/// <summary>
/// Lets a request wait for a session to end (POST /execute?wait=true, GET /result?wait_seconds=N) instead of polling,
/// whichever replica the result reaches. A result stored here hands the stored session to its waiters at once; one
/// stored by another replica arrives as a signal, and the replica's <see cref="StoreWatch"/> looks at the store every
/// second for all the sessions waited for here (a relayed signal can be lost).
/// </summary>
public sealed class SessionCompletions(ISessionStore store, SessionSignals signals, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource<SessionRecord?>> _waiters = new();

    /// <summary>Called once a session's result is stored here, with the stored session: wakes every waiter, here and elsewhere.</summary>
    public void Completed(string sessionId, SessionRecord? stored)
    {
        if (_waiters.TryRemove(sessionId, out var waiters))
        {
            waiters.TrySetResult(stored);
        }
        signals.Ended(sessionId);
    }

    /// <summary>
    /// Starts listening for a session's end before it is queued, so that not even the fastest run can end unseen.
    /// Every session ends, so no listener outlives its session.
    /// </summary>
    public Task<SessionRecord?> Listen(string sessionId) =>
        _waiters.GetOrAdd(sessionId, _ => new TaskCompletionSource<SessionRecord?>(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    /// <summary>The session as it is once it has ended, or as it is when the wait is over; null when unknown.</summary>
    public async Task<SessionRecord?> WaitAsync(string sessionId, TimeSpan wait, CancellationToken cancellationToken)
    {
        var session = await store.FindAsync(sessionId, cancellationToken);
        if (session is null || SessionStatus.IsTerminal(session.Status) || wait <= TimeSpan.Zero)
        {
            return session;
        }
        return await WaitAsync(sessionId, Listen(sessionId), wait, cancellationToken);
    }

    /// <summary>
    /// Starts listening for the end of a session about to be queued, here and on the other replicas: nothing can end it
    /// before it is queued, so its wait (<see cref="WaitAsync(string, Listening, TimeSpan, CancellationToken)"/>) needs no
    /// first look at the store. <see cref="Forget"/> it if it is not queued after all.
    /// </summary>
    public Listening ListenBeforeQueued(string sessionId) => new(Listen(sessionId), signals.WhenEnded(sessionId, CancellationToken.None));

    /// <summary>Stops listening for a session that was never queued.</summary>
    public void Forget(string sessionId)
    {
        _waiters.TryRemove(sessionId, out _);
        signals.ForgetEnded(sessionId);
    }

    /// <summary>Waits for a session listened to with <see cref="Listen"/>.</summary>
    public Task<SessionRecord?> WaitAsync(string sessionId, Task<SessionRecord?> ended, TimeSpan wait, CancellationToken cancellationToken) =>
        WaitAsync(sessionId, ended, null, wait, cancellationToken);

    /// <summary>Waits for a session listened to with <see cref="ListenBeforeQueued"/>: it looks at the store only once woken (by the end here, a signal, or the replica's StoreWatch) or at its deadline.</summary>
    public Task<SessionRecord?> WaitAsync(string sessionId, Listening listening, TimeSpan wait, CancellationToken cancellationToken) =>
        WaitAsync(sessionId, listening.Here, listening.Elsewhere, wait, cancellationToken);

    private async Task<SessionRecord?> WaitAsync(
        string sessionId, Task<SessionRecord?> ended, Task? endedElsewhere, TimeSpan wait, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + wait;
        var elsewhere = endedElsewhere;
        while (true)
        {
            if (elsewhere is null)
            {
                // Listen first, then look: a result stored in between is never missed.
                elsewhere = signals.WhenEnded(sessionId, cancellationToken);
                var session = await store.FindAsync(sessionId, cancellationToken);
                if (session is null || SessionStatus.IsTerminal(session.Status))
                {
                    _waiters.TryRemove(sessionId, out _); // it ended elsewhere: nobody will complete the listener here
                    return session;
                }
                if (deadline <= time.GetUtcNow())
                {
                    return session;
                }
            }
            var pause = TimeSpan.FromTicks(Math.Max(0, (deadline - time.GetUtcNow()).Ticks));
            await Task.WhenAny(ended, elsewhere, Task.Delay(pause, time, cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
            // Stored here: no need to read it back (whichever woke first: a result stored here also signals its end).
            if (ended.IsCompleted && await ended is { } stored)
            {
                return stored;
            }
            elsewhere = null; // look at the store
        }
    }
}

/// <summary>A session's end as heard here (with its stored record) and as signalled by another replica.</summary>
public readonly record struct Listening(Task<SessionRecord?> Here, Task Elsewhere);
