using System.Collections.Concurrent;
using Executor.Session.Sessions;
using Executor.Session.Storage;

namespace Executor.Session.Dispatch;

/// <summary>
/// Lets a request wait for a session to end (POST /execute?wait=true, GET /result?wait_seconds=N) instead of polling.
/// Signals are in memory; the database stays the truth, so a waiter always reads the result from it.
/// </summary>
public sealed class SessionCompletions(SessionStore store, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _waiters = new();

    /// <summary>Wakes everyone waiting for the session. Called once its result is stored.</summary>
    public void Completed(string sessionId)
    {
        if (_waiters.TryRemove(sessionId, out var waiters))
        {
            waiters.TrySetResult();
        }
    }

    /// <summary>The session as it is once it has ended, or as it is when the wait is over; null when unknown.</summary>
    public async Task<SessionRecord?> WaitAsync(string sessionId, TimeSpan wait, CancellationToken cancellationToken)
    {
        var session = await store.FindAsync(sessionId, cancellationToken);
        if (session is null || SessionStatus.IsTerminal(session.Status) || wait <= TimeSpan.Zero)
        {
            return session;
        }
        // Register first, then look again: a result stored in between is never missed. Only unfinished sessions
        // have waiters, and every session ends, so no waiter outlives its session.
        var ended = _waiters.GetOrAdd(sessionId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        session = await store.FindAsync(sessionId, cancellationToken);
        if (session is not null && SessionStatus.IsTerminal(session.Status))
        {
            Completed(sessionId);
            return session;
        }
        try
        {
            await ended.WaitAsync(wait, time, cancellationToken);
        }
        catch (TimeoutException)
        {
        }
        return await store.FindAsync(sessionId, cancellationToken);
    }
}
