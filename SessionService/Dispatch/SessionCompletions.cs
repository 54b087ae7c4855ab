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
    private readonly ConcurrentDictionary<string, TaskCompletionSource<SessionRecord?>> _waiters = new();

    /// <summary>Wakes everyone waiting for the session. Called once its result is stored, with the stored session.</summary>
    public void Completed(string sessionId, SessionRecord? stored = null)
    {
        if (_waiters.TryRemove(sessionId, out var waiters))
        {
            waiters.TrySetResult(stored);
        }
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
        // Listen first, then look again: a result stored in between is never missed.
        var ended = Listen(sessionId);
        session = await store.FindAsync(sessionId, cancellationToken);
        if (session is not null && SessionStatus.IsTerminal(session.Status))
        {
            Completed(sessionId);
            return session;
        }
        return await WaitAsync(sessionId, ended, wait, cancellationToken);
    }

    /// <summary>Waits for a session listened to with <see cref="Listen"/>.</summary>
    public async Task<SessionRecord?> WaitAsync(string sessionId, Task<SessionRecord?> ended, TimeSpan wait, CancellationToken cancellationToken)
    {
        try
        {
            // The stored session comes with the signal; read it back only when the signal had none.
            if (await ended.WaitAsync(wait, time, cancellationToken) is { } stored)
            {
                return stored;
            }
        }
        catch (TimeoutException)
        {
        }
        return await store.FindAsync(sessionId, cancellationToken);
    }
}
