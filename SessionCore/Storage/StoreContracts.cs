using Executor.Contracts;
using Executor.SessionCore.Access;
using Executor.SessionCore.Sessions;

namespace Executor.SessionCore.Storage;

/// <summary>
/// The truth about sessions: their files, state and result. Every state change is one conditional statement, so a
/// session ends exactly once whoever races to end it (its runner's result, a cleanup, a dead host), on any replica.
/// </summary>
public interface ISessionStore
{
    /// <summary>What the store is, for health reports: "SQLite at ...", "PostgreSQL at ...".</summary>
    string Description { get; }

    /// <summary>Brings the schema to this version (versioned migrations; safe when several replicas start at once).</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Those of the sessions that have ended (one statement for any number of waiting requests).</summary>
    Task<IReadOnlyList<string>> FinishedAmongAsync(IReadOnlyCollection<string> sessionIds, CancellationToken cancellationToken);

    /// <summary>
    /// Stores a new, queued session with its files, unless <paramref name="queueCapacity"/> sessions are queued already,
    /// or its owner is at one of the session's limits (<see cref="NewSession.MaxUnfinished"/>,
    /// <see cref="NewSession.MaxStoredBytes"/>). The check and the insert are one step: sessions submitted at once by one
    /// owner never pass its limits together, on any replica.
    /// </summary>
    Task<SessionAdmission> CreateAsync(NewSession session, int queueCapacity, CancellationToken cancellationToken);

    Task<SessionRecord?> FindAsync(string id, CancellationToken cancellationToken);

    /// <summary>
    /// Ends a session with its result; only the first result counts, and with <paramref name="host"/> only while that
    /// host runs it. Null when it had already ended (or was not the host's).
    /// </summary>
    Task<SessionRecord?> CompleteAsync(string id, RunResult result, string? host, CancellationToken cancellationToken);

    /// <summary>Asks the host running the session to kill it (its next heartbeat hears of it); the session as it is now.</summary>
    Task<SessionRecord?> RequestCancelAsync(string id, CancellationToken cancellationToken);

    /// <summary>Deletes sessions (with their files) that ended before the cutoff; returns how many.</summary>
    Task<int> PurgeAsync(DateTimeOffset endedBefore, CancellationToken cancellationToken);
}

/// <summary>
/// The queue of sessions waiting for a runner host. A claim moves sessions from queued to running on one host, once:
/// under PostgreSQL with FOR UPDATE SKIP LOCKED, so replicas never hand one session to two hosts.
/// </summary>
public interface IWorkQueue
{
    /// <summary>
    /// Claims up to <paramref name="max"/> queued sessions, oldest first, for the host's process; the claim's number with
    /// them. Nothing for a host that is not alive, or whose last heartbeat said its engine is down.
    /// </summary>
    Task<Claim> ClaimAsync(string host, string instance, int max, IReadOnlyCollection<string>? runtimes, CancellationToken cancellationToken);

    /// <summary>Puts back in the queue what was claimed for the host's process after <paramref name="receivedSeq"/>: it never got there.</summary>
    Task<int> ReleaseUnreceivedAsync(string host, string instance, long receivedSeq, CancellationToken cancellationToken);

    Task<IReadOnlyDictionary<string, IReadOnlyList<RunFile>>> LoadFilesAsync(IReadOnlyCollection<string> sessionIds, CancellationToken cancellationToken);

    /// <summary>What the queue holds, in brief: how many runs of each runtime, whether sandbox creates wait, and the hosts whose sandboxes have commands waiting.</summary>
    Task<QueuedWork> QueuedWorkAsync(CancellationToken cancellationToken);
}

/// <summary>What is queued, for <see cref="Dispatch.StoreWatch"/> to wake the claims it is for.</summary>
public sealed record QueuedWork(IReadOnlyList<QueuedRuns> Runs, bool Creates, IReadOnlyList<string> PinnedHosts)
{
    public static QueuedWork Nothing { get; } = new([], false, []);
}

/// <summary>Runs queued for one runtime (null: the default runtime).</summary>
public sealed record QueuedRuns(string? Runtime, int Count);

/// <summary>The runner hosts: their heartbeats, which runs they hold, what they must be told.</summary>
public interface IHostDirectory
{
    /// <summary>Records a heartbeat; returns the host's previous process when this one is new (a restart), else null.</summary>
    Task<string?> BeatAsync(string host, Heartbeat beat, CancellationToken cancellationToken);

    Task<IReadOnlyList<HostRecord>> ListHostsAsync(CancellationToken cancellationToken);

    /// <summary>Marks hosts silent since the cutoff as dead; returns them.</summary>
    Task<IReadOnlyList<string>> MarkDeadAsync(DateTimeOffset silentSince, CancellationToken cancellationToken);

    /// <summary>Ends the running sessions of a host (all of them, or those of processes other than <paramref name="keepInstance"/>).</summary>
    Task<IReadOnlyList<SessionRecord>> EndRunsAsync(string host, string? keepInstance, RunResult result, CancellationToken cancellationToken);

    /// <summary>Ends the host process's sessions claimed before the cutoff that it no longer lists as running.</summary>
    Task<IReadOnlyList<SessionRecord>> EndLostRunsAsync(
        string host, string instance, IReadOnlyCollection<string> running, DateTimeOffset claimedBefore, RunResult result, CancellationToken cancellationToken);

    /// <summary>Sessions running on the host that someone asked to cancel.</summary>
    Task<IReadOnlyList<string>> CancelsForAsync(string host, CancellationToken cancellationToken);

    /// <summary>Records a POST /prewarm for every host to apply; returns its generation.</summary>
    Task<long> RequestPrewarmAsync(int? count, CancellationToken cancellationToken);

    /// <summary>The latest POST /prewarm, if there has been one.</summary>
    Task<PrewarmCommand?> LatestPrewarmAsync(CancellationToken cancellationToken);
}

/// <summary>API keys, kept with the sessions (so they work in both modes). Only their secrets' hashes are stored.</summary>
public interface IApiKeyStore
{
    Task CreateKeyAsync(ApiKeyRecord key, CancellationToken cancellationToken);

    Task<ApiKeyRecord?> FindKeyAsync(string id, CancellationToken cancellationToken);

    Task<IReadOnlyList<ApiKeyRecord>> ListKeysAsync(CancellationToken cancellationToken);

    /// <summary>Revokes a key (it stays listed, revoked); false when there is no such key.</summary>
    Task<bool> RevokeKeyAsync(string id, CancellationToken cancellationToken);

    /// <summary>How many of an owner's sessions wait and run now.</summary>
    Task<(int Queued, int Running)> CountUnfinishedAsync(string owner, CancellationToken cancellationToken);

    /// <summary>
    /// The bytes an owner's sessions hold in the store: their files, options (stdin included), results, output,
    /// interactive input and the files runs handed back. Purging a session frees its share.
    /// </summary>
    Task<long> CountStoredBytesAsync(string owner, CancellationToken cancellationToken);
}

/// <summary>A run's output as it happens, kept until the session is purged, so that any replica can stream it.</summary>
public interface IOutputLog
{
    /// <summary>Appends pieces of a session's output (a piece already there is ignored: a host may send one twice).</summary>
    Task AppendOutputAsync(string sessionId, IReadOnlyList<OutputChunk> chunks, CancellationToken cancellationToken);

    /// <summary>The session's output from <paramref name="fromOffset"/> on, in order.</summary>
    Task<IReadOnlyList<OutputChunk>> ReadOutputAsync(string sessionId, long fromOffset, CancellationToken cancellationToken);
}

/// <param name="Owner">The caller (key id) the session belongs to.</param>
/// <param name="MaxRunning">The owner's concurrency quota: a claim takes none of its sessions while that many run.</param>
public sealed record NewSession(
    string Id, string Entrypoint, IReadOnlyList<SessionFile> Files, RunOptions Options, string? TraceParent, string? Owner = null, int? MaxRunning = null)
{
    /// <summary>The most sessions the owner may have queued and running together, this one included (null: no limit).</summary>
    public long? MaxUnfinished { get; init; }

    /// <summary>The most bytes the owner's sessions may hold in the store, this one included (null: no limit).</summary>
    public long? MaxStoredBytes { get; init; }

    /// <summary>The stateful sandbox this session is a command to (null for a run).</summary>
    public string? SandboxId { get; init; }

    /// <summary>The only host that may claim it: the one holding its sandbox (null: any, as a sandbox's create).</summary>
    public string? PinHost { get; init; }
}

/// <summary>Whether a new session went in, and if not, which limit kept it out.</summary>
public enum SessionAdmission
{
    Created,
    QueueFull,
    OwnerUnfinished,
    OwnerStorage,
}

public sealed record SessionRecord(
    string Id,
    string Status,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    RunResult? Result,
    string? Host,
    string? Owner = null)
{
    /// <summary>What the session was submitted with.</summary>
    public RunOptions Options { get; init; } = RunOptions.None;
}

public sealed record ClaimedSession(string Id, DateTimeOffset CreatedAt, string Entrypoint, RunOptions Options, string? TraceParent);

public sealed record Claim(string Host, long Seq, IReadOnlyList<ClaimedSession> Sessions)
{
    public static Claim None { get; } = new("", 0, []);
}

public sealed record HostRecord(
    string Id,
    string Instance,
    string State,
    DateTimeOffset FirstSeen,
    DateTimeOffset LastSeen,
    int Capacity,
    int Running,
    PoolStatus? Pool,
    string? EngineProblem)
{
    /// <summary>The runtimes the host offers, as of its last heartbeat (null from a host that does not report them).</summary>
    public IReadOnlyList<RuntimeInfo>? Runtimes { get; init; }
}

public static class HostStates
{
    public const string Alive = "alive";
    public const string Dead = "dead";
}

/// <summary>The files runs handed back (their list is in the result; their contents here), purged with their sessions.</summary>
public interface IResultFiles
{
    Task<byte[]?> ReadResultFileAsync(string sessionId, string path, CancellationToken cancellationToken);
}

/// <summary>An interactive session's input, kept in the store so that the client may write it on one replica and the runner host read it from another.</summary>
public interface IStdinLog
{
    /// <summary>Appends input at its end, unless the input is closed, the session has ended, or the whole would pass <paramref name="maxBytes"/>.</summary>
    Task<StdinAppend> AppendStdinAsync(string sessionId, byte[] data, long maxBytes, CancellationToken cancellationToken);

    /// <summary>Ends the input (the script reads end of file once it has read the rest). False when it had ended already.</summary>
    Task<bool> CloseStdinAsync(string sessionId, CancellationToken cancellationToken);

    /// <summary>Records that a client attached (false when one had already).</summary>
    Task<bool> MarkStdinAttachedAsync(string sessionId, CancellationToken cancellationToken);

    /// <summary>The input from <paramref name="fromOffset"/> on, and what the session's input looks like now.</summary>
    Task<StdinRead> ReadStdinAsync(string sessionId, long fromOffset, CancellationToken cancellationToken);
}

public enum StdinAppend
{
    Appended,
    OverLimit,
    Closed,
}

/// <param name="Chunks">(offset, bytes) in order.</param>
public sealed record StdinRead(
    IReadOnlyList<(long Offset, byte[] Data)> Chunks, string? Status, DateTimeOffset? StartedAt, DateTimeOffset? AttachedAt, DateTimeOffset? ClosedAt);

/// <summary>
/// The callbacks still to deliver, in the store with their sessions: an outbox that survives restarts. A replica leases
/// what is due, so two replicas never deliver one callback at once (a crashed replica's lease runs out).
/// </summary>
public interface ICallbackOutbox
{
    /// <summary>
    /// Leases up to <paramref name="max"/> callbacks of ended sessions that are due, counting the attempt: at most
    /// <paramref name="perDestination"/> to one receiver, none to the <paramref name="busy"/> ones (receivers that have
    /// as many in flight already).
    /// </summary>
    Task<IReadOnlyList<CallbackRecord>> LeaseDueCallbacksAsync(
        int max, int perDestination, IReadOnlyCollection<string> busy, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>Records how an attempt went: delivered, to be retried at <paramref name="retryAt"/>, or given up (both null).</summary>
    Task RecordCallbackAsync(string sessionId, bool delivered, DateTimeOffset? retryAt, string? error, CancellationToken cancellationToken);

    Task<CallbackRecord?> FindCallbackAsync(string sessionId, CancellationToken cancellationToken);

    /// <summary>When the next pending callback to a receiver other than the <paramref name="busy"/> ones is due, if any.</summary>
    Task<DateTimeOffset?> NextCallbackDueAsync(IReadOnlyCollection<string> busy, CancellationToken cancellationToken);
}

/// <param name="Destination">The receiver (scheme://host:port); null for callbacks stored before it was recorded.</param>
public sealed record CallbackRecord(
    string SessionId, string Url, string State, int Attempts, DateTimeOffset NextAttemptAt, string? LastError, DateTimeOffset? DeliveredAt,
    string? Destination = null);

public static class CallbackStates
{
    public const string Pending = "pending";
    public const string Delivered = "delivered";
    public const string Failed = "failed";
}
