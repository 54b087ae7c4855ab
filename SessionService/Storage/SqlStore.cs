using System.Data.Common;
using System.Text.Json;
using Executor.RunProtocol;
using Executor.Session.Sessions;

namespace Executor.Session.Storage;

/// <summary>
/// Sessions, the queue and the runner hosts in SQL. The statements are written once for both engines (SQLite and
/// PostgreSQL read the same SQL, RETURNING included); <see cref="SqliteStore"/> and <see cref="PostgresStore"/> own
/// their connections, their schema and the few places where the engines differ (the claim's row locking).
/// </summary>
public abstract class SqlStore(TimeProvider time) : ISessionStore, IWorkQueue, IHostDirectory
{
    private const string Unfinished = "('queued', 'running')";
    private const string SessionColumns = "id, status, created_at, started_at, finished_at, result, host";

    public abstract string Description { get; }

    protected TimeProvider Time { get; } = time;

    /// <summary>How the engine locks the rows a claim picks: "FOR UPDATE SKIP LOCKED" under PostgreSQL, nothing under SQLite (one writer).</summary>
    protected abstract string ClaimLocking { get; }

    public abstract Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>A connection for reading, disposed by the caller.</summary>
    protected abstract Task<DbConnection> OpenReadAsync(CancellationToken cancellationToken);

    /// <summary>The connection for a change; SQLite serializes writers on one connection until the lease is disposed.</summary>
    protected abstract Task<WriteLease> OpenWriteAsync(CancellationToken cancellationToken);

    public async Task<bool> CreateAsync(NewSession session, int queueCapacity, CancellationToken cancellationToken)
    {
        // One round trip: the session (only while the queue has room) and its files (only if the session went in).
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var transaction = await BeginAsync(writing.Connection, cancellationToken);
        await using var insert = Command(writing.Connection, transaction, "");
        var sql = new System.Text.StringBuilder("""
            INSERT INTO sessions (id, status, created_at, entrypoint, options, trace_parent)
            SELECT @id, 'queued', @now, @entrypoint, @options, @trace
            WHERE (SELECT COUNT(*) FROM sessions WHERE status = 'queued') < @capacity;
            """);
        insert.Add("@id", session.Id).Add("@now", Time.GetUtcNow()).Add("@entrypoint", session.Entrypoint)
            .Add("@options", JsonSerializer.Serialize(session.Options, Json)).Add("@trace", session.TraceParent).Add("@capacity", queueCapacity);
        for (var i = 0; i < session.Files.Count; i++)
        {
            sql.Append(System.Globalization.CultureInfo.InvariantCulture,
                $"\nINSERT INTO session_files (session_id, path, content) SELECT @id, @path{i}, @content{i} WHERE EXISTS (SELECT 1 FROM sessions WHERE id = @id);");
            insert.Add($"@path{i}", session.Files[i].Path).Add($"@content{i}", session.Files[i].Content);
        }
        insert.CommandText = sql.ToString();
        var created = await insert.ExecuteNonQueryAsync(cancellationToken) > 0;
        if (transaction is not null)
        {
            await transaction.CommitAsync(cancellationToken);
        }
        return created;
    }

    /// <summary>
    /// A transaction around a multi-statement command, where the engine needs one (SQLite runs each statement on its
    /// own); null where the command is one already (a PostgreSQL batch runs in an implicit transaction).
    /// </summary>
    protected abstract Task<DbTransaction?> BeginAsync(DbConnection connection, CancellationToken cancellationToken);

    public async Task<SessionRecord?> FindAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = Command(connection, null, $"SELECT {SessionColumns} FROM sessions WHERE id = @id");
        command.Add("@id", id);
        return (await ReadSessionsAsync(command, cancellationToken)).SingleOrDefault();
    }

    public async Task<SessionRecord?> CompleteAsync(string id, RunResult result, string? host, CancellationToken cancellationToken)
    {
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var command = Command(writing.Connection, null, $"""
            UPDATE sessions SET status = @status, finished_at = @now, result = @result
            WHERE id = @id AND status IN {Unfinished} AND (@host IS NULL OR host = @host)
            RETURNING {SessionColumns}
            """);
        command.Add("@id", id).Add("@status", result.Status).Add("@now", Time.GetUtcNow())
            .Add("@result", JsonSerializer.Serialize(result, Json)).Add("@host", host);
        return (await ReadSessionsAsync(command, cancellationToken)).SingleOrDefault();
    }

    public async Task<SessionRecord?> RequestCancelAsync(string id, CancellationToken cancellationToken)
    {
        await using (var writing = await OpenWriteAsync(cancellationToken))
        await using (var command = Command(writing.Connection, null,
            "UPDATE sessions SET cancel_requested_at = @now WHERE id = @id AND status = 'running' AND cancel_requested_at IS NULL"))
        {
            command.Add("@id", id).Add("@now", Time.GetUtcNow());
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        return await FindAsync(id, cancellationToken);
    }

    public async Task<int> PurgeAsync(DateTimeOffset endedBefore, CancellationToken cancellationToken)
    {
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var transaction = await writing.Connection.BeginTransactionAsync(cancellationToken);
        await using (var files = Command(writing.Connection, transaction, """
            DELETE FROM session_files WHERE session_id IN
                (SELECT id FROM sessions WHERE finished_at IS NOT NULL AND finished_at < @cutoff)
            """))
        {
            files.Add("@cutoff", endedBefore);
            await files.ExecuteNonQueryAsync(cancellationToken);
        }
        await using var sessions = Command(writing.Connection, transaction,
            "DELETE FROM sessions WHERE finished_at IS NOT NULL AND finished_at < @cutoff");
        sessions.Add("@cutoff", endedBefore);
        var purged = await sessions.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return purged;
    }

    public virtual async Task<Claim> ClaimAsync(string host, string instance, int max, CancellationToken cancellationToken)
    {
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var transaction = await writing.Connection.BeginTransactionAsync(cancellationToken);
        long seq;
        await using (var next = Command(writing.Connection, transaction,
            "UPDATE hosts SET claim_seq = claim_seq + 1 WHERE id = @host AND instance = @instance AND state = 'alive' AND engine_problem IS NULL RETURNING claim_seq"))
        {
            next.Add("@host", host).Add("@instance", instance);
            if (await next.ExecuteScalarAsync(cancellationToken) is not { } value)
            {
                return Claim.None; // not a live host process (it must say hello first), or its engine is down
            }
            seq = Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);
        }
        var claimed = new List<ClaimedSession>();
        await using (var claim = Command(writing.Connection, transaction, $"""
            UPDATE sessions SET status = 'running', host = @host, host_instance = @instance, claim_seq = @seq, started_at = @now
            WHERE id IN (SELECT id FROM sessions WHERE status = 'queued' ORDER BY created_at, id LIMIT @max {ClaimLocking})
            RETURNING id, created_at, entrypoint, options, trace_parent
            """))
        {
            claim.Add("@host", host).Add("@instance", instance).Add("@seq", seq).Add("@now", Time.GetUtcNow()).Add("@max", max);
            await using var reader = await claim.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                claimed.Add(ReadClaimed(reader));
            }
        }
        if (claimed.Count == 0)
        {
            await transaction.RollbackAsync(cancellationToken);
            return Claim.None;
        }
        await transaction.CommitAsync(cancellationToken);
        return new Claim(host, seq, Oldest(claimed));
    }

    /// <summary>RETURNING keeps no order: oldest first, as they were picked.</summary>
    protected static List<ClaimedSession> Oldest(IEnumerable<ClaimedSession> claimed) =>
        [.. claimed.OrderBy(s => s.CreatedAt).ThenBy(s => s.Id, StringComparer.Ordinal)];

    protected static ClaimedSession ReadClaimed(DbDataReader reader) => new(reader.GetString(0), reader.GetFieldValue<DateTimeOffset>(1),
        reader.GetString(2), ReadOptions(reader, 3), reader.IsDBNull(4) ? null : reader.GetString(4));

    public async Task<int> ReleaseUnreceivedAsync(string host, string instance, long receivedSeq, CancellationToken cancellationToken)
    {
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var command = Command(writing.Connection, null, """
            UPDATE sessions SET status = 'queued', host = NULL, host_instance = NULL, claim_seq = NULL, started_at = NULL
            WHERE status = 'running' AND host = @host AND host_instance = @instance AND claim_seq > @received
            """);
        command.Add("@host", host).Add("@instance", instance).Add("@received", receivedSeq);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyDictionary<string, IReadOnlyList<RunFile>>> LoadFilesAsync(
        IReadOnlyCollection<string> sessionIds, CancellationToken cancellationToken)
    {
        var files = sessionIds.ToDictionary(id => id, _ => new List<RunFile>());
        if (files.Count == 0)
        {
            return new Dictionary<string, IReadOnlyList<RunFile>>();
        }
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = Command(connection, null, "");
        command.CommandText = $"SELECT session_id, path, content FROM session_files WHERE session_id IN ({command.AddList("@id", sessionIds)}) ORDER BY session_id, path";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            files[reader.GetString(0)].Add(new RunFile(reader.GetString(1), reader.GetFieldValue<byte[]>(2)));
        }
        return files.ToDictionary(f => f.Key, f => (IReadOnlyList<RunFile>)f.Value);
    }

    public async Task<string?> BeatAsync(string host, Heartbeat beat, CancellationToken cancellationToken)
    {
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var transaction = await writing.Connection.BeginTransactionAsync(cancellationToken);
        string? previous = null;
        await using (var find = Command(writing.Connection, transaction, "SELECT instance FROM hosts WHERE id = @host"))
        {
            find.Add("@host", host);
            if (await find.ExecuteScalarAsync(cancellationToken) is string instance && instance != beat.Instance)
            {
                previous = instance;
            }
        }
        await using (var upsert = Command(writing.Connection, transaction, """
            INSERT INTO hosts (id, instance, state, first_seen, last_seen, claim_seq, capacity, running, pool, engine_problem, prewarm_generation)
            VALUES (@host, @instance, 'alive', @now, @now, 0, @capacity, @running, @pool, @engine, @prewarm)
            ON CONFLICT (id) DO UPDATE SET
                first_seen = CASE WHEN hosts.instance = excluded.instance THEN hosts.first_seen ELSE excluded.first_seen END,
                instance = excluded.instance, state = 'alive', last_seen = excluded.last_seen, capacity = excluded.capacity,
                running = excluded.running, pool = excluded.pool, engine_problem = excluded.engine_problem,
                prewarm_generation = excluded.prewarm_generation
            """))
        {
            upsert.Add("@host", host).Add("@instance", beat.Instance).Add("@now", Time.GetUtcNow()).Add("@capacity", beat.Capacity)
                .Add("@running", beat.Running.Count).Add("@pool", beat.Pool is null ? null : JsonSerializer.Serialize(beat.Pool, Json))
                .Add("@engine", beat.EngineProblem).Add("@prewarm", beat.PrewarmGeneration);
            await upsert.ExecuteNonQueryAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return previous;
    }

    public async Task<IReadOnlyList<HostRecord>> ListHostsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = Command(connection, null,
            "SELECT id, instance, state, first_seen, last_seen, capacity, running, pool, engine_problem FROM hosts ORDER BY id");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var hosts = new List<HostRecord>();
        while (await reader.ReadAsync(cancellationToken))
        {
            hosts.Add(new HostRecord(
                reader.GetString(0), reader.GetString(1), reader.GetString(2),
                reader.GetFieldValue<DateTimeOffset>(3), reader.GetFieldValue<DateTimeOffset>(4),
                reader.GetInt32(5), reader.GetInt32(6),
                reader.IsDBNull(7) ? null : JsonSerializer.Deserialize<PoolStatus>(reader.GetString(7), Json),
                reader.IsDBNull(8) ? null : reader.GetString(8)));
        }
        return hosts;
    }

    public async Task<IReadOnlyList<string>> MarkDeadAsync(DateTimeOffset silentSince, CancellationToken cancellationToken)
    {
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var command = Command(writing.Connection, null,
            "UPDATE hosts SET state = 'dead' WHERE state = 'alive' AND last_seen < @since RETURNING id");
        command.Add("@since", silentSince);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var dead = new List<string>();
        while (await reader.ReadAsync(cancellationToken))
        {
            dead.Add(reader.GetString(0));
        }
        return dead;
    }

    public async Task<IReadOnlyList<SessionRecord>> EndRunsAsync(string host, string? keepInstance, RunResult result, CancellationToken cancellationToken)
    {
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var command = Command(writing.Connection, null, $"""
            UPDATE sessions SET status = @status, finished_at = @now, result = @result
            WHERE status = 'running' AND host = @host AND (@keep IS NULL OR host_instance <> @keep)
            RETURNING {SessionColumns}
            """);
        command.Add("@host", host).Add("@keep", keepInstance).Add("@status", result.Status).Add("@now", Time.GetUtcNow())
            .Add("@result", JsonSerializer.Serialize(result with { RunnerHost = host }, Json));
        return await ReadSessionsAsync(command, cancellationToken);
    }

    public async Task<IReadOnlyList<SessionRecord>> EndLostRunsAsync(
        string host, string instance, IReadOnlyCollection<string> running, DateTimeOffset claimedBefore, RunResult result,
        CancellationToken cancellationToken)
    {
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var command = Command(writing.Connection, null, "");
        var known = running.Count == 0 ? "" : $"AND id NOT IN ({command.AddList("@known", running)})";
        command.CommandText = $"""
            UPDATE sessions SET status = @status, finished_at = @now, result = @result
            WHERE status = 'running' AND host = @host AND host_instance = @instance AND started_at < @before {known}
            RETURNING {SessionColumns}
            """;
        command.Add("@host", host).Add("@instance", instance).Add("@before", claimedBefore).Add("@status", result.Status)
            .Add("@now", Time.GetUtcNow()).Add("@result", JsonSerializer.Serialize(result with { RunnerHost = host }, Json));
        return await ReadSessionsAsync(command, cancellationToken);
    }

    public async Task<IReadOnlyList<string>> CancelsForAsync(string host, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = Command(connection, null,
            "SELECT id FROM sessions WHERE status = 'running' AND host = @host AND cancel_requested_at IS NOT NULL");
        command.Add("@host", host);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var ids = new List<string>();
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetString(0));
        }
        return ids;
    }

    public async Task<long> RequestPrewarmAsync(int? count, CancellationToken cancellationToken)
    {
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var command = Command(writing.Connection, null, """
            INSERT INTO prewarm_requests (id, generation, count, requested_at) VALUES (1, 1, @count, @now)
            ON CONFLICT (id) DO UPDATE SET generation = prewarm_requests.generation + 1, count = excluded.count, requested_at = excluded.requested_at
            RETURNING generation
            """);
        command.Add("@count", count, System.Data.DbType.Int32).Add("@now", Time.GetUtcNow());
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task<PrewarmCommand?> LatestPrewarmAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = Command(connection, null, "SELECT generation, count FROM prewarm_requests WHERE id = 1");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new PrewarmCommand(reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetInt32(1))
            : null;
    }

    protected static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    protected static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }

    private static RunOptions ReadOptions(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? RunOptions.None : JsonSerializer.Deserialize<RunOptions>(reader.GetString(ordinal), Json) ?? RunOptions.None;

    private static async Task<IReadOnlyList<SessionRecord>> ReadSessionsAsync(DbCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var sessions = new List<SessionRecord>();
        while (await reader.ReadAsync(cancellationToken))
        {
            sessions.Add(new SessionRecord(
                reader.GetString(0),
                reader.GetString(1),
                reader.GetFieldValue<DateTimeOffset>(2),
                reader.IsDBNull(3) ? null : reader.GetFieldValue<DateTimeOffset>(3),
                reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4),
                reader.IsDBNull(5) ? null : JsonSerializer.Deserialize<RunResult>(reader.GetString(5), Json),
                reader.IsDBNull(6) ? null : reader.GetString(6)));
        }
        return sessions;
    }

    /// <summary>A connection held for one change; disposing it gives it back (SQLite: releases the writer).</summary>
    protected sealed class WriteLease(DbConnection connection, Func<ValueTask> release) : IAsyncDisposable
    {
        public DbConnection Connection { get; } = connection;

        public ValueTask DisposeAsync() => release();
    }
}

internal static class DbCommandExtensions
{
    /// <summary>Adds a parameter. A null needs its type (PostgreSQL cannot infer one): text unless <paramref name="nullType"/> says otherwise.</summary>
    public static DbCommand Add(this DbCommand command, string name, object? value, System.Data.DbType nullType = System.Data.DbType.String)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        if (value is null)
        {
            parameter.DbType = nullType;
        }
        command.Parameters.Add(parameter);
        return command;
    }

    /// <summary>Adds one parameter per value and returns their names, comma-separated, for an IN list.</summary>
    public static string AddList(this DbCommand command, string prefix, IEnumerable<string> values) =>
        string.Join(", ", values.Select((value, i) =>
        {
            var name = $"{prefix}{i}";
            command.Add(name, value);
            return name;
        }));
}
