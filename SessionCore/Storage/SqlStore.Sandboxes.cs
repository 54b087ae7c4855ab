using System.Data.Common;
using System.Text.Json;
using Executor.Contracts;
using Executor.SessionCore.Sandboxes;

namespace Executor.SessionCore.Storage;

public abstract partial class SqlStore : ISandboxStore
{
    private const string SandboxColumns = """
        id, owner, runtime, state, host, container_id, created_at, last_activity_at, expires_at, idle_timeout_seconds,
        lifetime_seconds, memory_mb, executions, ended_at, ended_reason, attributes, access_token
        """;

    private const string NotEnded = "state <> 'ended'";

    public async Task<SandboxAdmission> CreateSandboxAsync(SandboxRecord sandbox, int? maxAlive, CancellationToken cancellationToken)
    {
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var transaction = await writing.Connection.BeginTransactionAsync(cancellationToken);
        if (sandbox.Owner is not null && maxAlive is not null)
        {
            await LockOwnerAsync(writing.Connection, transaction, sandbox.Owner, cancellationToken);
        }
        await using var insert = Command(writing.Connection, transaction, $"""
            INSERT INTO sandboxes (id, owner, runtime, state, created_at, last_activity_at, expires_at, idle_timeout_seconds, lifetime_seconds, memory_mb,
                attributes, access_token)
            SELECT @id, @owner, @runtime, @state, @created, @created, @expires, @idle, @lifetime, @memory, @attributes, @token
            WHERE @max IS NULL OR (SELECT COUNT(*) FROM sandboxes WHERE owner = @owner AND {NotEnded}) < @max
            """);
        insert.Add("@id", sandbox.Id).Add("@owner", sandbox.Owner).Add("@runtime", sandbox.Runtime).Add("@state", sandbox.State)
            .Add("@created", sandbox.CreatedAt).Add("@expires", sandbox.ExpiresAt).Add("@idle", sandbox.IdleTimeoutSeconds)
            .Add("@lifetime", sandbox.LifetimeSeconds).Add("@memory", sandbox.MemoryMb, System.Data.DbType.Int32)
            .Add("@max", sandbox.Owner is null ? null : maxAlive, System.Data.DbType.Int32)
            .Add("@attributes", sandbox.Attributes).Add("@token", sandbox.AccessToken);
        var admitted = await insert.ExecuteNonQueryAsync(cancellationToken) > 0;
        await transaction.CommitAsync(cancellationToken);
        return admitted ? SandboxAdmission.Created : SandboxAdmission.OwnerAlive;
    }

    public async Task<SandboxRecord?> FindSandboxAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = Command(connection, null, $"SELECT {SandboxColumns} FROM sandboxes WHERE id = @id");
        command.Add("@id", id);
        var found = await ReadSandboxesAsync(command, cancellationToken);
        return found.Count > 0 ? found[0] : null;
    }

    public async Task<IReadOnlyList<SandboxRecord>> ListSandboxesAsync(string? owner, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = Command(connection, null, $"""
            SELECT {SandboxColumns} FROM sandboxes WHERE (@owner IS NULL OR owner = @owner)
            ORDER BY CASE WHEN state = 'ended' THEN 1 ELSE 0 END, created_at DESC, id LIMIT @limit
            """);
        command.Add("@owner", owner).Add("@limit", limit);
        return await ReadSandboxesAsync(command, cancellationToken);
    }

    public async Task<bool> StartSandboxAsync(string id, string host, string? instance, string? containerId, CancellationToken cancellationToken)
    {
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var command = Command(writing.Connection, null, """
            UPDATE sandboxes SET state = 'running', host = @host, host_instance = @instance, container_id = @container, last_activity_at = @now
            WHERE id = @id AND state = 'starting'
            """);
        command.Add("@id", id).Add("@host", host).Add("@instance", instance).Add("@container", containerId).Add("@now", Time.GetUtcNow());
        return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    public async Task TouchSandboxAsync(string id, int executions, CancellationToken cancellationToken)
    {
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var command = Command(writing.Connection, null,
            $"UPDATE sandboxes SET last_activity_at = @now, executions = executions + @executions WHERE id = @id AND {NotEnded}");
        command.Add("@id", id).Add("@now", Time.GetUtcNow()).Add("@executions", executions);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<bool> SetSandboxAttributesAsync(string id, string? attributes, CancellationToken cancellationToken)
    {
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var command = Command(writing.Connection, null, $"UPDATE sandboxes SET attributes = @attributes WHERE id = @id AND {NotEnded}");
        command.Add("@id", id).Add("@attributes", attributes);
        return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    public async Task<bool> SetSandboxIdleTimeoutAsync(string id, int idleTimeoutSeconds, CancellationToken cancellationToken)
    {
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var command = Command(writing.Connection, null, $"""
            UPDATE sandboxes SET idle_timeout_seconds = @idle, last_activity_at = @now WHERE id = @id AND {NotEnded}
            """);
        command.Add("@id", id).Add("@idle", idleTimeoutSeconds).Add("@now", Time.GetUtcNow());
        return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    public async Task<(SandboxRecord? Sandbox, IReadOnlyList<SessionRecord> Ended)> EndSandboxAsync(
        string id, string reason, CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        IReadOnlyList<SessionRecord> ended;
        await using (var writing = await OpenWriteAsync(cancellationToken))
        {
            await using var transaction = await writing.Connection.BeginTransactionAsync(cancellationToken);
            await using (var end = Command(writing.Connection, transaction,
                $"UPDATE sandboxes SET state = 'ended', ended_at = @now, ended_reason = @reason WHERE id = @id AND {NotEnded}"))
            {
                end.Add("@id", id).Add("@now", now).Add("@reason", reason);
                await end.ExecuteNonQueryAsync(cancellationToken);
            }
            // Its queued commands will never run: they end with it (a running one is answered by its host, or ended
            // as lost when the host no longer lists it).
            var result = new RunResult { Status = RunStatus.Cancelled, Detail = $"The sandbox ended: {reason}", StartedAt = now, FinishedAt = now,
                Sandbox = new SandboxOutcome(SandboxStatus.SandboxGone) };
            await using (var commands = Command(writing.Connection, transaction, $"""
                UPDATE sessions SET status = @status, finished_at = @now, result = @result
                WHERE sandbox_id = @id AND status = 'queued'
                RETURNING {SessionColumns}
                """))
            {
                commands.Add("@id", id).Add("@now", now).Add("@status", RunStatus.Cancelled).Add("@result", JsonSerializer.Serialize(result, Json));
                ended = await ReadSessionsAsync(commands, cancellationToken);
            }
            await transaction.CommitAsync(cancellationToken);
        }
        return (await FindSandboxAsync(id, cancellationToken), ended);
    }

    public async Task<IReadOnlyList<SandboxRecord>> DueSandboxesAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        // Idle is computed here from each row's own timeout (seconds): cheap for the few sandboxes alive at once.
        await using var command = Command(connection, null, $"SELECT {SandboxColumns} FROM sandboxes WHERE state = 'running'");
        var running = await ReadSandboxesAsync(command, cancellationToken);
        return [.. running.Where(s => s.IdleUntil <= now)];
    }

    public async Task<IReadOnlyList<SandboxRecord>> SandboxesOnAsync(string host, string? otherThanInstance, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = Command(connection, null, $"""
            SELECT {SandboxColumns} FROM sandboxes
            WHERE host = @host AND {NotEnded} AND (@instance IS NULL OR host_instance IS NULL OR host_instance <> @instance)
            """);
        command.Add("@host", host).Add("@instance", otherThanInstance);
        return await ReadSandboxesAsync(command, cancellationToken);
    }

    public async Task<IReadOnlyList<SandboxEnd>> EndedAmongAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken)
    {
        if (ids.Count == 0)
        {
            return [];
        }
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = Command(connection, null, "");
        command.CommandText = $"SELECT id, state, ended_reason FROM sandboxes WHERE id IN ({command.AddList("@id", ids)})";
        var known = new Dictionary<string, (string State, string? Reason)>(StringComparer.Ordinal);
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                known[reader.GetString(0)] = (reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2));
            }
        }
        return [.. ids.Select(id => known.TryGetValue(id, out var row)
                ? row.State == SandboxStates.Ended ? new SandboxEnd(id, row.Reason ?? "ended") : null
                : new SandboxEnd(id, "SessionService does not know this sandbox"))
            .OfType<SandboxEnd>()];
    }

    public virtual async Task<Claim> ClaimSandboxCommandsAsync(
        string host, string instance, int creates, IReadOnlyCollection<string>? runtimes, CancellationToken cancellationToken)
    {
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var command = Command(writing.Connection, null, $"""
            UPDATE sessions SET status = 'running', host = @host, host_instance = @instance, claim_seq = 0, started_at = @now
            WHERE status = 'queued' AND id IN ({SandboxQueue(RuntimeFilter(runtimes))})
              AND EXISTS (SELECT 1 FROM hosts WHERE id = @host AND instance = @instance AND state = 'alive' AND engine_problem IS NULL)
            RETURNING id, created_at, entrypoint, options, trace_parent
            """);
        command.Add("@host", host).Add("@instance", instance).Add("@now", Time.GetUtcNow()).Add("@creates", creates);
        AddRuntimes(command, runtimes);
        var claimed = new List<ClaimedSession>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                claimed.Add(ReadClaimed(reader));
            }
        }
        return claimed.Count == 0 ? Claim.None : new Claim(host, 0, Oldest(claimed));
    }

    /// <summary>The sandbox lane's queue: the commands pinned to the host, and the oldest creates any host may take.</summary>
    protected static string SandboxQueue(string runtimeFilter) => $"""
        SELECT id FROM sessions WHERE status = 'queued' AND sandbox_id IS NOT NULL AND pin_host = @host
        UNION ALL
        SELECT id FROM (
            SELECT q.id FROM sessions q
            WHERE q.status = 'queued' AND q.sandbox_id IS NOT NULL AND q.pin_host IS NULL{runtimeFilter}
            ORDER BY q.created_at, q.id LIMIT @creates
        ) creates
        """;

    public async Task<IReadOnlyList<SessionRecord>> UnfinishedCommandsAsync(string sandboxId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = Command(connection, null,
            $"SELECT {SessionColumns} FROM sessions WHERE sandbox_id = @id AND status IN ('queued', 'running') ORDER BY created_at, id");
        command.Add("@id", sandboxId);
        return await ReadSessionsAsync(command, cancellationToken);
    }

    public async Task<int> PurgeSandboxesAsync(DateTimeOffset endedBefore, CancellationToken cancellationToken)
    {
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var command = Command(writing.Connection, null, "DELETE FROM sandboxes WHERE state = 'ended' AND ended_at < @before");
        command.Add("@before", endedBefore);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<IReadOnlyList<SandboxRecord>> ReadSandboxesAsync(DbCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var sandboxes = new List<SandboxRecord>();
        while (await reader.ReadAsync(cancellationToken))
        {
            sandboxes.Add(new SandboxRecord(
                reader.GetString(0),
                reader.IsDBNull(1) ? null : reader.GetString(1),
                reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetString(5),
                reader.GetFieldValue<DateTimeOffset>(6),
                reader.GetFieldValue<DateTimeOffset>(7),
                reader.GetFieldValue<DateTimeOffset>(8),
                reader.GetInt32(9),
                reader.GetInt32(10),
                reader.IsDBNull(11) ? null : reader.GetInt32(11),
                reader.GetInt32(12),
                reader.IsDBNull(13) ? null : reader.GetFieldValue<DateTimeOffset>(13),
                reader.IsDBNull(14) ? null : reader.GetString(14),
                reader.IsDBNull(15) ? null : reader.GetString(15),
                reader.IsDBNull(16) ? null : reader.GetString(16)));
        }
        return sandboxes;
    }
}
