using System.Collections.Concurrent;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;

namespace Executor.SessionCore.Dispatch;

/// <summary>
/// Lets a request wait for a session to end (POST /execute?wait=true, GET /result?wait_seconds=N) instead of polling,
/// whichever replica the result reaches. A result stored here hands the stored session to its waiters at once; one
/// stored by another replica arrives as a signal, and a waiter also looks at the store every second on its own.
/// </summary>
public sealed class SessionCompletions(ISessionStore store, SessionSignals signals, TimeProvider time)
{
    private static readonly TimeSpan LookAgain = TimeSpan.FromSeconds(1);

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

    /// <summary>Waits for a session listened to with <see cref="Listen"/>.</summary>
    public async Task<SessionRecord?> WaitAsync(string sessionId, Task<SessionRecord?> ended, TimeSpan wait, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + wait;
        while (true)
        {
            // Listen first, then look: a result stored in between is never missed.
            var elsewhere = signals.WhenEnded(sessionId, cancellationToken);
            var session = await store.FindAsync(sessionId, cancellationToken);
            if (session is null || SessionStatus.IsTerminal(session.Status))
            {
                _waiters.TryRemove(sessionId, out _); // it ended elsewhere: nobody will complete the listener here
                return session;
            }
            var left = deadline - time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                return session;
            }
            var woken = await Task.WhenAny(ended, elsewhere, Task.Delay(left < LookAgain ? left : LookAgain, time, cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
            if (woken == ended && await ended is { } stored)
            {
                return stored; // stored here: no need to read it back
            }
        }
    }
}
