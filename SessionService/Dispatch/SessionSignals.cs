using System.Collections.Concurrent;

namespace Executor.Session.Dispatch;

/// <summary>
/// Wake-ups between the requests of this replica, and through <see cref="ISignalRelay"/> of every replica: new work
/// for waiting claims, a session's end for its waiters, a cancel or a prewarm for a host's heartbeat. A signal only
/// says "look again": the store stays the truth, and every waiter also looks again on its own after a short while
/// (a relayed signal can be lost).
/// </summary>
public sealed class SessionSignals
{
    private const string Work = "work";
    private const string Done = "done:";
    private const string Host = "host:";
    private const string AllHosts = "hosts";

    private readonly ConcurrentDictionary<string, TaskCompletionSource> _waiters = new();
    private readonly ISignalRelay _relay;

    public SessionSignals(ISignalRelay relay)
    {
        _relay = relay;
        relay.Subscribe(Raise); // a signal from another replica is raised here only
    }

    /// <summary>Sessions were queued (or put back): claims waiting for work look again.</summary>
    public void WorkArrived() => Publish(Work);

    /// <summary>A session ended: whoever waits for it reads it.</summary>
    public void Ended(string sessionId) => Publish(Done + sessionId);

    /// <summary>A host has something to hear (a cancel): its heartbeat answers now.</summary>
    public void CallHost(string host) => Publish(Host + host);

    /// <summary>Every host has something to hear (a prewarm request).</summary>
    public void CallAllHosts() => Publish(AllHosts);

    public Task WhenWork(CancellationToken cancellationToken) => Wait(Work, cancellationToken);

    public Task WhenEnded(string sessionId, CancellationToken cancellationToken) => Wait(Done + sessionId, cancellationToken);

    public Task WhenHostCalled(string host, CancellationToken cancellationToken) =>
        Task.WhenAny(Wait(Host + host, cancellationToken), Wait(AllHosts, cancellationToken));

    private void Publish(string signal)
    {
        Raise(signal);
        _relay.Publish(signal);
    }

    private void Raise(string signal)
    {
        if (_waiters.TryRemove(signal, out var waiters))
        {
            waiters.TrySetResult();
        }
    }

    private Task Wait(string signal, CancellationToken cancellationToken) =>
        _waiters.GetOrAdd(signal, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task
            .WaitAsync(cancellationToken);
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
