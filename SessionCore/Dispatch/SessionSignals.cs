using System.Collections.Concurrent;
using Executor.SessionCore.Storage;

namespace Executor.SessionCore.Dispatch;

/// <summary>
/// Wake-ups between the requests of this replica, and through <see cref="ISignalRelay"/> of every replica: new work
/// for waiting claims, a session's end for its waiters, a cancel or a prewarm for a host's heartbeat. A signal only
/// says "look again": the store stays the truth. A waiting claim does not look on its own: <see cref="StoreWatch"/> looks
/// at the queue once a second for the whole replica and wakes the claims that queued work is for (a relayed signal can be
/// lost, and a woken claim may not take what woke it). New work wakes one waiting claim per signal, the one with the
/// most warm containers first, and a sandbox command only its host's: a hundred waiting hosts are not a hundred claims
/// racing for one session.
/// </summary>
public sealed class SessionSignals
{
    private const string Work = "work";
    private const string Done = "done:";
    private const string Output = "out:";
    private const string Input = "in:";
    private const string Host = "host:";
    private const string AllHosts = "hosts";
    private const string SandboxWork = "sandbox-work";

    private readonly ConcurrentDictionary<string, TaskCompletionSource> _waiters = new();
    private readonly List<WorkWaiter> _workWaiters = [];
    private readonly Lock _workLock = new();
    private readonly ISignalRelay _relay;
    private long _arrivals;
    private TaskCompletionSource _anyEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public SessionSignals(ISignalRelay relay)
    {
        _relay = relay;
        relay.Subscribe(Raise); // a signal from another replica is raised here only
    }

    /// <summary>A session was queued (or put back): one waiting claim looks again.</summary>
    public void WorkArrived() => Publish(Work);

    /// <summary>A session ended: whoever waits for it reads it.</summary>
    public void Ended(string sessionId) => Publish(Done + sessionId);

    /// <summary>A session's output grew: whoever streams it reads on.</summary>
    public void OutputArrived(string sessionId) => Publish(Output + sessionId);

    /// <summary>A session's input grew or ended: its runner host's read answers.</summary>
    public void InputArrived(string sessionId) => Publish(Input + sessionId);

    /// <summary>A host has something to hear (a cancel): its heartbeat answers now.</summary>
    public void CallHost(string host) => Publish(Host + host);

    /// <summary>Every host has something to hear (a prewarm request).</summary>
    public void CallAllHosts() => Publish(AllHosts);

    /// <summary>
    /// A sandbox command was queued: the sandbox lane's claim of <paramref name="pinnedHost"/>, the host that holds the
    /// sandbox, looks again; for a create (no host yet) every waiting claim of the lane does.
    /// </summary>
    public void SandboxWorkArrived(string? pinnedHost) => Publish(pinnedHost is null ? SandboxWork : SandboxWorkFor(pinnedHost));

    /// <summary>Completes when a create is queued, or a command for one of <paramref name="host"/>'s sandboxes.</summary>
    public Task WhenSandboxWork(string host, CancellationToken cancellationToken) =>
        Task.WhenAny(Wait(SandboxWork, cancellationToken), Wait(SandboxWorkFor(host), cancellationToken));

    /// <summary>
    /// What the queue holds, as <see cref="StoreWatch"/> reads it, wakes the claims of this replica it is for: as many
    /// waiting claims of the run lane as there are queued runs they can take, and the sandbox lane's as
    /// <see cref="SandboxWorkArrived"/> does.
    /// Here only: each replica watches for itself.
    /// </summary>
    public void Queued(QueuedWork work)
    {
        var woken = new List<WorkWaiter>();
        lock (_workLock)
        {
            // As many claims as sessions of each runtime are queued, among those that can run it, the warmest first:
            // a queue of one session wakes one claim, not every host's.
            foreach (var runs in work.Runs)
            {
                var chosen = _workWaiters.Where(w => w.CanRun(runs.Runtime)).OrderByDescending(w => w.WarmReady).ThenBy(w => w.Arrival)
                    .Take(runs.Count).ToList();
                chosen.ForEach(w => _workWaiters.Remove(w));
                woken.AddRange(chosen);
            }
        }
        woken.ForEach(w => w.Wake());
        if (work.Creates)
        {
            Raise(SandboxWork);
        }
        foreach (var host in work.PinnedHosts)
        {
            Raise(SandboxWorkFor(host));
        }
    }

    /// <summary>The sessions some request here waits to see end (at most 1,000), for <see cref="StoreWatch"/> to look at.</summary>
    public IReadOnlyList<string> AwaitedEnds() =>
        [.. _waiters.Keys.Where(k => k.StartsWith(Done, StringComparison.Ordinal)).Take(1000).Select(k => k[Done.Length..])];

    /// <summary>These sessions have ended (as the store says): their waiters here read them. Here only.</summary>
    public void EndedElsewhere(IEnumerable<string> sessionIds)
    {
        foreach (var id in sessionIds)
        {
            Raise(Done + id);
        }
    }

    private static string SandboxWorkFor(string host) => SandboxWork + ":" + host;

    /// <summary>A claim waiting for work, woken by one "work" signal; dispose it once done waiting.</summary>
    /// <param name="runtimes">The runtimes the claiming host can run (null: any).</param>
    public WorkWaiter WaitForWork(int warmReady, IReadOnlyCollection<string>? runtimes = null)
    {
        var waiter = new WorkWaiter(this, warmReady, Interlocked.Increment(ref _arrivals), runtimes);
        lock (_workLock)
        {
            _workWaiters.Add(waiter);
        }
        return waiter;
    }

    public Task WhenEnded(string sessionId, CancellationToken cancellationToken) => Wait(Done + sessionId, cancellationToken);

    /// <summary>Stops waiting for the end of a session that was never queued (nothing would ever end it).</summary>
    public void ForgetEnded(string sessionId) => _waiters.TryRemove(Done + sessionId, out _);

    /// <summary>Completes when any session ends (here or on another replica): the callbacks have work.</summary>
    public Task WhenAnyEnded(CancellationToken cancellationToken) => Volatile.Read(ref _anyEnded).Task.WaitAsync(cancellationToken);

    public Task WhenOutput(string sessionId, CancellationToken cancellationToken) => Wait(Output + sessionId, cancellationToken);

    public Task WhenInput(string sessionId, CancellationToken cancellationToken) => Wait(Input + sessionId, cancellationToken);

    public Task WhenHostCalled(string host, CancellationToken cancellationToken) =>
        Task.WhenAny(Wait(Host + host, cancellationToken), Wait(AllHosts, cancellationToken));

    private void Publish(string signal)
    {
        Raise(signal);
        _relay.Publish(signal);
    }

    private void Raise(string signal)
    {
        if (signal == Work)
        {
            WakeOneForWork();
            return;
        }
        if (signal.StartsWith(Done, StringComparison.Ordinal))
        {
            Interlocked.Exchange(ref _anyEnded, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }
        if (_waiters.TryRemove(signal, out var waiters))
        {
            waiters.TrySetResult();
        }
    }

    private Task Wait(string signal, CancellationToken cancellationToken) =>
        _waiters.GetOrAdd(signal, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task
            .WaitAsync(cancellationToken);

    private void WakeOneForWork()
    {
        WorkWaiter? chosen;
        lock (_workLock)
        {
            chosen = _workWaiters.OrderByDescending(w => w.WarmReady).ThenBy(w => w.Arrival).FirstOrDefault();
            if (chosen is not null)
            {
                _workWaiters.Remove(chosen);
            }
        }
        chosen?.Wake();
    }

    private void Forget(WorkWaiter waiter)
    {
        lock (_workLock)
        {
            _workWaiters.Remove(waiter);
        }
    }

    /// <summary>One waiting claim: <see cref="Woken"/> completes at the "work" signal meant for it.</summary>
    public sealed class WorkWaiter(SessionSignals signals, int warmReady, long arrival, IReadOnlyCollection<string>? runtimes = null) : IDisposable
    {
        /// <summary>Whether the claim can take a session of the runtime (null: the default runtime, which every host runs).</summary>
        public bool CanRun(string? runtime) => runtime is null || runtimes is null || runtimes.Contains(runtime);

        private readonly TaskCompletionSource _woken = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int WarmReady { get; } = warmReady;

        public long Arrival { get; } = arrival;

        public Task Woken => _woken.Task;

        internal void Wake() => _woken.TrySetResult();

        /// <summary>
        /// The claim took work it had looked for before this waiter was woken: the wake, which may be for a session it
        /// did not see, goes on to another waiting claim (else that session would wait for the store watch, and the claim
        /// that went on looking, with free slots, would take it).
        /// </summary>
        public void PassOn()
        {
            if (_woken.Task.IsCompleted)
            {
                signals.WakeOneForWork();
            }
        }

        public void Dispose() => signals.Forget(this);
    }
}

/// <summary>Carries signals to the other replicas: nowhere in embedded mode, LISTEN/NOTIFY under PostgreSQL.</summary>
public interface ISignalRelay
{
    /// <summary>Tells the other replicas (never this one).</summary>
    void Publish(string signal);

    /// <summary>Where the other replicas' signals go.</summary>
    void Subscribe(Action<string> receive);
}

/// <summary>One replica: nobody else to tell.</summary>
public sealed class LocalSignalRelay : ISignalRelay
{
    public void Publish(string signal)
    {
    }

    public void Subscribe(Action<string> receive)
    {
    }
}
