using Executor.Contracts;
using Executor.SessionCore.Storage;

namespace Executor.SessionCore.Sandboxes;

/// <summary>A stateful sandbox as the store knows it: the truth every replica shares.</summary>
/// <param name="Attributes">What a surface keeps about the sandbox for its clients (a JSON object: E2B's metadata and contexts, Jupyter's sessions); the core never reads it.</param>
/// <param name="AccessToken">The sandbox's own token (E2B's data plane presents it; E2B's connect hands it out again), or null: it has none.</param>
public sealed record SandboxRecord(
    string Id,
    string? Owner,
    string? Runtime,
    string State,
    string? Host,
    string? ContainerId,
    DateTimeOffset CreatedAt,
    DateTimeOffset LastActivityAt,
    DateTimeOffset ExpiresAt,
    int IdleTimeoutSeconds,
    int LifetimeSeconds,
    int? MemoryMb,
    int Executions,
    DateTimeOffset? EndedAt,
    string? EndedReason,
    string? Attributes = null,
    string? AccessToken = null)
{
    /// <summary>When it ends if nothing happens: idle timeout after the last activity, or its lifetime, whichever is first.</summary>
    public DateTimeOffset IdleUntil => LastActivityAt.AddSeconds(IdleTimeoutSeconds) < ExpiresAt ? LastActivityAt.AddSeconds(IdleTimeoutSeconds) : ExpiresAt;
}

/// <summary>The states of a sandbox: starting (its create is queued or running), running, ended (for good).</summary>
public static class SandboxStates
{
    public const string Starting = "starting";
    public const string Running = "running";
    public const string Ended = "ended";
}

/// <summary>Whether a new sandbox went in, and if not, which limit kept it out.</summary>
public enum SandboxAdmission
{
    Created,
    OwnerAlive,
}

/// <summary>The stateful sandboxes: their rows, and the claim of their commands (sessions with a sandbox id).</summary>
public interface ISandboxStore
{
    /// <summary>Stores a new sandbox (starting) while its owner has fewer than <paramref name="maxAlive"/> not ended (null: no limit).</summary>
    Task<SandboxAdmission> CreateSandboxAsync(SandboxRecord sandbox, int? maxAlive, CancellationToken cancellationToken);

    Task<SandboxRecord?> FindSandboxAsync(string id, CancellationToken cancellationToken);

    /// <summary>The owner's sandboxes (every one's with a null owner), alive first, newest first, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<SandboxRecord>> ListSandboxesAsync(string? owner, int limit, CancellationToken cancellationToken);

    /// <summary>The sandbox's create succeeded on the host: it runs from now until its lifetime ends. False if it ended meanwhile.</summary>
    Task<bool> StartSandboxAsync(string id, string host, string? instance, string? containerId, CancellationToken cancellationToken);

    /// <summary>A command reached it: its idle time starts again; <paramref name="executions"/> calls are added.</summary>
    Task TouchSandboxAsync(string id, int executions, CancellationToken cancellationToken);

    /// <summary>Replaces the sandbox's surface attributes; false if it has ended.</summary>
    Task<bool> SetSandboxAttributesAsync(string id, string? attributes, CancellationToken cancellationToken);

    /// <summary>A new idle timeout, counted from now (its idle time starts again); false if it has ended.</summary>
    Task<bool> SetSandboxIdleTimeoutAsync(string id, int idleTimeoutSeconds, CancellationToken cancellationToken);

    /// <summary>
    /// Ends the sandbox if it has not ended (the first reason stays) and its queued commands with it. Returns the
    /// sandbox as it is now, and the commands ended here.
    /// </summary>
    Task<(SandboxRecord? Sandbox, IReadOnlyList<SessionRecord> Ended)> EndSandboxAsync(string id, string reason, CancellationToken cancellationToken);

    /// <summary>The sandboxes not ended whose idle timeout or lifetime has passed at <paramref name="now"/>.</summary>
    Task<IReadOnlyList<SandboxRecord>> DueSandboxesAsync(DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>The host's sandboxes not ended; with an instance, only those of other processes of the host.</summary>
    Task<IReadOnlyList<SandboxRecord>> SandboxesOnAsync(string host, string? otherThanInstance, CancellationToken cancellationToken);

    /// <summary>Of the ids a host holds, those the store has ended or never knew.</summary>
    Task<IReadOnlyList<SandboxEnd>> EndedAmongAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken);

    /// <summary>
    /// The sandbox lane's claim: every queued command to a sandbox <paramref name="host"/> holds, and at most
    /// <paramref name="creates"/> queued creates of the runtimes it offers, oldest first; each claimed once.
    /// </summary>
    Task<Claim> ClaimSandboxCommandsAsync(string host, string instance, int creates, IReadOnlyCollection<string>? runtimes, CancellationToken cancellationToken);

    /// <summary>The sandbox's commands not ended (queued or running), oldest first.</summary>
    Task<IReadOnlyList<SessionRecord>> UnfinishedCommandsAsync(string sandboxId, CancellationToken cancellationToken);

    /// <summary>Deletes sandboxes that ended before <paramref name="endedBefore"/>.</summary>
    Task<int> PurgeSandboxesAsync(DateTimeOffset endedBefore, CancellationToken cancellationToken);
}
