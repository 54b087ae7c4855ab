using System.Data.Common;
using System.Text.Json;
using Executor.Contracts;
using Executor.SessionCore.Access;
using Executor.SessionCore.Sessions;

namespace Executor.SessionCore.Storage;

/// <summary>
/// Sessions, the queue and the runner hosts in SQL. The statements are written once for both engines (SQLite and
/// PostgreSQL read the same SQL, RETURNING included); <see cref="SqliteStore"/> and <see cref="PostgresStore"/> own
/// their connections, their schema and the few places where the engines differ (the claim: SQLite has one writer;
/// PostgreSQL locks the rows it picks, FOR UPDATE SKIP LOCKED).
/// </summary>
public abstract partial class SqlStore(TimeProvider time) : ISessionStore, IWorkQueue, IHostDirectory, IApiKeyStore, IOutputLog
{
    private const string Unfinished = SessionStatus.UnfinishedSql;
    private const string SessionColumns = "id, status, created_at, started_at, finished_at, result, host, owner, options";

    public abstract string Description { get; }

    protected TimeProvider Time { get; } = time;

    public abstract Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>A connection for reading, disposed by the caller.</summary>
    protected abstract Task<DbConnection> OpenReadAsync(CancellationToken cancellationToken);

    /// <summary>The connection for a change; SQLite serializes writers on one connection until the lease is disposed.</summary>
    protected abstract Task<WriteLease> OpenWriteAsync(CancellationToken cancellationToken);

    public async Task<SessionAdmission> CreateAsync(NewSession session, int queueCapacity, CancellationToken cancellationToken)
    {
        // The session goes in only while the queue has room and its owner is within its limits; its files and callback
        // only if it went in. The owner's limits are checked in the same transaction as the insert, with the owner's
        // submissions serialized (SQLite: one writer; PostgreSQL: a lock per owner), so simultaneous submissions never
        // pass them together. It is one command, so one round trip to PostgreSQL (a batch is one transaction there):
        // a submission waits for the server once, not for a lock, an insert and a commit in turn.
        var owned = session.Owner is not null && (session.MaxUnfinished is not null || session.MaxStoredBytes is not null);
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var transaction = await BeginAsync(writing.Connection, cancellationToken);
        await using var insert = Command(writing.Connection, transaction, "");
        var options = JsonSerializer.Serialize(session.Options, Json);
        var sql = new System.Text.StringBuilder(owned ? LockOwnerSql : "");
        sql.Append($"""

            INSERT INTO sessions (id, status, created_at, entrypoint, options, trace_parent, owner, max_running, stdin_closed_at, runtime, sandbox_id, pin_host)
            SELECT @id, 'queued', @now, @entrypoint, @options, @trace, @owner, @max_running, @stdin_closed, @runtime, @sandbox, @pin_host
            WHERE (SELECT COUNT(*) FROM sessions WHERE status = 'queued') < @capacity
              AND (@max_unfinished IS NULL OR (SELECT COUNT(*) FROM sessions WHERE owner = @owner AND status IN {Unfinished}) < @max_unfinished)
              AND (@max_stored IS NULL OR ({StoredBytes}) + @size <= @max_stored);
            """);
        insert.Add("@id", session.Id).Add("@now", Time.GetUtcNow()).Add("@entrypoint", session.Entrypoint)
            .Add("@options", options).Add("@trace", session.TraceParent).Add("@capacity", queueCapacity)
            .Add("@owner", session.Owner).Add("@max_running", session.MaxRunning, System.Data.DbType.Int32).Add("@runtime", session.Options.Runtime)
            .Add("@stdin_closed", session.Options.Interactive ? null : Time.GetUtcNow(), System.Data.DbType.DateTimeOffset) // only an interactive session takes input later
            .Add("@max_unfinished", owned ? session.MaxUnfinished : null, System.Data.DbType.Int64)
            .Add("@max_stored", owned ? session.MaxStoredBytes : null, System.Data.DbType.Int64)
            .Add("@size", SizeOf(session, options))
            .Add("@sandbox", session.SandboxId).Add("@pin_host", session.PinHost);
        for (var i = 0; i < session.Files.Count; i++)
        {
            sql.Append(System.Globalization.CultureInfo.InvariantCulture,
                $"\nINSERT INTO session_files (session_id, path, content) SELECT @id, @path{i}, @content{i} WHERE EXISTS (SELECT 1 FROM sessions WHERE id = @id);");
            insert.Add($"@path{i}", session.Files[i].Path).Add($"@content{i}", session.Files[i].Content);
        }
        if (session.Options.CallbackUrl is { } callback)
        {
            sql.Append("""

                INSERT INTO callbacks (session_id, url, state, attempts, next_attempt_at, destination)
                SELECT @id, @callback, 'pending', 0, @now, @destination WHERE EXISTS (SELECT 1 FROM sessions WHERE id = @id);
                """);
            insert.Add("@callback", callback).Add("@destination", Callbacks.CallbackDispatcher.DestinationOf(callback));
        }
        // The last statement answers only when the session stayed out, with what its owner holds (under the same lock),
        // so that the refusal names the limit it met.
        sql.Append($"""

            SELECT {(owned ? $"(SELECT COUNT(*) FROM sessions WHERE owner = @owner AND status IN {Unfinished}), ({StoredBytes})" : "0, 0")}
            WHERE NOT EXISTS (SELECT 1 FROM sessions WHERE id = @id);
            """);
        insert.CommandText = sql.ToString();
        var admission = SessionAdmission.Created;
        await using (var reader = await insert.ExecuteReaderAsync(cancellationToken))
        {
            do
            {
                // Each statement has its own result (SQLite: only those with columns); the refusal's has two.
                if (reader.FieldCount == 2 && await reader.ReadAsync(cancellationToken))
                {
                    admission = WhyNotAdmitted(session, owned, options,
                        Convert.ToInt64(reader.GetValue(0), System.Globalization.CultureInfo.InvariantCulture),
                        Convert.ToInt64(reader.GetValue(1), System.Globalization.CultureInfo.InvariantCulture));
                }
            }
            while (await reader.NextResultAsync(cancellationToken));
        }
        if (transaction is not null)
        {
            await transaction.CommitAsync(cancellationToken);
        }
        return admission;
    }

    /// <summary>What the owner's sessions hold in the store, as one scalar subquery over @owner.</summary>
    private const string StoredBytes = """
        SELECT COALESCE(SUM(LENGTH(o.options) + COALESCE(LENGTH(o.result), 0)), 0)
            + COALESCE((SELECT SUM(LENGTH(f.content)) FROM session_files f JOIN sessions so ON so.id = f.session_id WHERE so.owner = @owner), 0)
            + COALESCE((SELECT SUM(LENGTH(r.content)) FROM result_files r JOIN sessions so ON so.id = r.session_id WHERE so.owner = @owner), 0)
            + COALESCE((SELECT SUM(LENGTH(x.data)) FROM session_output x JOIN sessions so ON so.id = x.session_id WHERE so.owner = @owner), 0)
            + COALESCE((SELECT SUM(LENGTH(i.data)) FROM session_stdin i JOIN sessions so ON so.id = i.session_id WHERE so.owner = @owner), 0)
        FROM sessions o WHERE o.owner = @owner
        """;

    /// <summary>What a new session adds to its owner's storage: its files and its options (stdin included).</summary>
    private static long SizeOf(NewSession session, string options) =>
        session.Files.Sum(f => (long)f.Content.Length) + System.Text.Encoding.UTF8.GetByteCount(options);

    /// <summary>
    /// The statement that serializes one owner's submissions until the transaction ends, over @owner (SQLite: none, it
    /// has one writer).
    /// </summary>
    protected virtual string LockOwnerSql => "";

    /// <summary>Serializes one owner's changes until the transaction ends (<see cref="LockOwnerSql"/>).</summary>
    protected async Task LockOwnerAsync(DbConnection connection, DbTransaction transaction, string owner, CancellationToken cancellationToken)
    {
        if (LockOwnerSql.Length == 0)
        {
            return;
        }
        await using var command = Command(connection, transaction, LockOwnerSql);
        command.Add("@owner", owner);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Which limit kept a session out, from what its owner held (queued and running sessions, stored bytes).</summary>
    private static SessionAdmission WhyNotAdmitted(NewSession session, bool owned, string options, long unfinished, long stored) =>
        !owned ? SessionAdmission.QueueFull
        : unfinished >= session.MaxUnfinished ? SessionAdmission.OwnerUnfinished
        : stored + SizeOf(session, options) > session.MaxStoredBytes ? SessionAdmission.OwnerStorage
        : SessionAdmission.QueueFull;

    public async Task<long> CountStoredBytesAsync(string owner, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = Command(connection, null, StoredBytes);
        command.Add("@owner", owner);
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
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
        // The files' contents go in their own table, in the same transaction, and only with the result that counts.
        var files = result.Files?.Where(f => f.Content is not null).ToList() ?? [];
        var stored = files.Count == 0 ? result : result with { Files = [.. result.Files!.Select(f => f with { Content = null })] };
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var transaction = files.Count == 0 ? null : await writing.Connection.BeginTransactionAsync(cancellationToken);
        SessionRecord? ended;
        await using (var command = Command(writing.Connection, transaction, $"""
            UPDATE sessions SET status = @status, finished_at = @now, result = @result
            WHERE id = @id AND status IN {Unfinished} AND (@host IS NULL OR host = @host)
            RETURNING {SessionColumns}
            """))
        {
            command.Add("@id", id).Add("@status", result.Status).Add("@now", Time.GetUtcNow())
                .Add("@result", JsonSerializer.Serialize(stored, Json)).Add("@host", host);
            ended = (await ReadSessionsAsync(command, cancellationToken)).SingleOrDefault();
        }
        if (transaction is null)
        {
            return ended;
        }
        if (ended is not null)
        {
            await using var insert = Command(writing.Connection, transaction, "");
            var sql = new System.Text.StringBuilder();
            insert.Add("@id", id);
            for (var i = 0; i < files.Count; i++)
            {
                sql.Append(System.Globalization.CultureInfo.InvariantCulture,
                    $"INSERT INTO result_files (session_id, path, content) VALUES (@id, @path{i}, @content{i}) ON CONFLICT DO NOTHING;\n");
                insert.Add($"@path{i}", files[i].Path).Add($"@content{i}", files[i].Content);
            }
            insert.CommandText = sql.ToString();
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return ended;
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
                (SELECT id FROM sessions WHERE finished_at IS NOT NULL AND finished_at < @cutoff);
            DELETE FROM session_output WHERE session_id IN
                (SELECT id FROM sessions WHERE finished_at IS NOT NULL AND finished_at < @cutoff);
            DELETE FROM result_files WHERE session_id IN
                (SELECT id FROM sessions WHERE finished_at IS NOT NULL AND finished_at < @cutoff);
            DELETE FROM session_stdin WHERE session_id IN
                (SELECT id FROM sessions WHERE finished_at IS NOT NULL AND finished_at < @cutoff);
            DELETE FROM callbacks WHERE session_id IN
                (SELECT id FROM sessions WHERE finished_at IS NOT NULL AND finished_at < @cutoff);
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

    /// <summary>A claim of sessions of any runtime.</summary>
    public Task<Claim> ClaimAsync(string host, string instance, int max, CancellationToken cancellationToken) =>
        ClaimAsync(host, instance, max, null, cancellationToken);

    public virtual async Task<Claim> ClaimAsync(
        string host, string instance, int max, IReadOnlyCollection<string>? runtimes, CancellationToken cancellationToken)
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
            WHERE id IN ({FairQueue(RuntimeFilter(runtimes))})
            RETURNING id, created_at, entrypoint, options, trace_parent
            """))
        {
            claim.Add("@host", host).Add("@instance", instance).Add("@seq", seq).Add("@now", Time.GetUtcNow()).Add("@max", max);
            AddRuntimes(claim, runtimes);
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

    /// <summary>
    /// The queued sessions a claim takes, fairly between owners: an owner's next session comes after as many turns as
    /// that owner has sessions running and queued before it, so the owner with the least running goes first and one
    /// caller flooding the queue cannot starve the others, even when hosts claim one at a time; an owner at its
    /// concurrency quota waits.
    /// </summary>
    protected static string FairQueue(string runtimeFilter) => $"""
        SELECT id FROM (
            SELECT q.id, q.created_at, q.max_running,
                   (SELECT COUNT(*) FROM sessions r WHERE r.owner = q.owner AND r.status = 'running' AND r.sandbox_id IS NULL) AS running,
                   row_number() OVER (PARTITION BY COALESCE(q.owner, '') ORDER BY q.created_at, q.id) AS turn
            FROM sessions q
            WHERE q.status = 'queued' AND q.sandbox_id IS NULL{runtimeFilter}
        ) fair
        WHERE max_running IS NULL OR running + turn <= max_running
        ORDER BY running + turn, created_at, id
        LIMIT @max
        """;

    /// <summary>
    /// Only sessions of the runtimes the host can run now (null: any; none: nothing), and those stored without one
    /// (submitted while no host reported its runtimes).
    /// </summary>
    protected static string RuntimeFilter(IReadOnlyCollection<string>? runtimes) => runtimes switch
    {
        null => "",
        { Count: 0 } => " AND q.runtime IS NULL",
        _ => $" AND (q.runtime IS NULL OR q.runtime IN ({string.Join(", ", runtimes.Select((_, i) => $"@runtime{i}"))}))",
    };

    protected static void AddRuntimes(DbCommand command, IReadOnlyCollection<string>? runtimes)
    {
        var i = 0;
        foreach (var runtime in runtimes ?? [])
        {
            command.Add($"@runtime{i++}", runtime);
        }
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

    public async Task<IReadOnlyList<string>> FinishedAmongAsync(IReadOnlyCollection<string> sessionIds, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = Command(connection, null, "");
        command.CommandText = $"SELECT id FROM sessions WHERE id IN ({command.AddList("@id", sessionIds)}) AND status NOT IN ('queued', 'running')";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var ended = new List<string>();
        while (await reader.ReadAsync(cancellationToken))
        {
            ended.Add(reader.GetString(0));
        }
        return ended;
    }

    public async Task<QueuedWork> QueuedWorkAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        // The queued sessions only (the partial index sessions_queued), counted by kind of work, runtime and pinned host.
        await using var command = Command(connection, null, """
            SELECT sandbox_id IS NULL, pin_host, runtime, COUNT(*) FROM sessions WHERE status = 'queued'
            GROUP BY sandbox_id IS NULL, pin_host, runtime
            """);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var (runs, creates, pinned) = (new List<QueuedRuns>(), false, new List<string>());
        while (await reader.ReadAsync(cancellationToken))
        {
            if (reader.GetBoolean(0))
            {
                runs.Add(new QueuedRuns(reader.IsDBNull(2) ? null : reader.GetString(2), (int)reader.GetInt64(3)));
            }
            else if (reader.IsDBNull(1))
            {
                creates = true;
            }
            else if (!pinned.Contains(reader.GetString(1)))
            {
                pinned.Add(reader.GetString(1));
            }
        }
        return runs.Count > 0 || creates || pinned.Count > 0 ? new QueuedWork(runs, creates, pinned) : QueuedWork.Nothing;
    }

    public virtual async Task<string?> BeatAsync(string host, Heartbeat beat, CancellationToken cancellationToken)
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
        await using (var upsert = Command(writing.Connection, transaction, UpsertHostSql))
        {
            AddBeat(upsert, host, beat);
            await upsert.ExecuteNonQueryAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return previous;
    }

    /// <summary>Records a heartbeat: the host's row, made at its first beat, its first_seen kept while its process is the same.</summary>
    protected const string UpsertHostSql = """
            INSERT INTO hosts (id, instance, state, first_seen, last_seen, claim_seq, capacity, running, pool, engine_problem, prewarm_generation, runtimes)
            VALUES (@host, @instance, 'alive', @now, @now, 0, @capacity, @running, @pool, @engine, @prewarm, @runtimes)
            ON CONFLICT (id) DO UPDATE SET
                first_seen = CASE WHEN hosts.instance = excluded.instance THEN hosts.first_seen ELSE excluded.first_seen END,
                instance = excluded.instance, state = 'alive', last_seen = excluded.last_seen, capacity = excluded.capacity,
                running = excluded.running, pool = excluded.pool, engine_problem = excluded.engine_problem,
                prewarm_generation = excluded.prewarm_generation, runtimes = excluded.runtimes
            """;

    protected void AddBeat(DbCommand command, string host, Heartbeat beat) =>
        command.Add("@host", host).Add("@instance", beat.Instance).Add("@now", Time.GetUtcNow()).Add("@capacity", beat.Capacity)
            .Add("@running", beat.Running.Count).Add("@pool", beat.Pool is null ? null : JsonSerializer.Serialize(beat.Pool, Json))
            .Add("@engine", beat.EngineProblem).Add("@prewarm", beat.PrewarmGeneration)
            .Add("@runtimes", beat.Runtimes is null ? null : JsonSerializer.Serialize(beat.Runtimes, Json));

    public async Task<IReadOnlyList<HostRecord>> ListHostsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = Command(connection, null,
            "SELECT id, instance, state, first_seen, last_seen, capacity, running, pool, engine_problem, runtimes FROM hosts ORDER BY id");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var hosts = new List<HostRecord>();
        while (await reader.ReadAsync(cancellationToken))
        {
            hosts.Add(new HostRecord(
                reader.GetString(0), reader.GetString(1), reader.GetString(2),
                reader.GetFieldValue<DateTimeOffset>(3), reader.GetFieldValue<DateTimeOffset>(4),
                reader.GetInt32(5), reader.GetInt32(6),
                reader.IsDBNull(7) ? null : JsonSerializer.Deserialize<PoolStatus>(reader.GetString(7), Json),
                reader.IsDBNull(8) ? null : reader.GetString(8))
            {
                Runtimes = reader.IsDBNull(9) ? null : JsonSerializer.Deserialize<IReadOnlyList<RuntimeInfo>>(reader.GetString(9), Json),
            });
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

    public async Task AppendOutputAsync(string sessionId, IReadOnlyList<OutputChunk> chunks, CancellationToken cancellationToken)
    {
        if (chunks.Count == 0)
        {
            return;
        }
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var transaction = await BeginAsync(writing.Connection, cancellationToken);
        await using var insert = Command(writing.Connection, transaction, "");
        var sql = new System.Text.StringBuilder();
        insert.Add("@id", sessionId);
        for (var i = 0; i < chunks.Count; i++)
        {
            sql.Append(System.Globalization.CultureInfo.InvariantCulture,
                $"INSERT INTO session_output (session_id, \"offset\", stdout, data) VALUES (@id, @offset{i}, @stdout{i}, @data{i}) ON CONFLICT DO NOTHING;\n");
            insert.Add($"@offset{i}", chunks[i].Offset).Add($"@stdout{i}", chunks[i].Stdout).Add($"@data{i}", chunks[i].Data);
        }
        insert.CommandText = sql.ToString();
        await insert.ExecuteNonQueryAsync(cancellationToken);
        if (transaction is not null)
        {
            await transaction.CommitAsync(cancellationToken);
        }
    }

    public async Task<IReadOnlyList<OutputChunk>> ReadOutputAsync(string sessionId, long fromOffset, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = Command(connection, null, """
            SELECT "offset", stdout, data FROM session_output WHERE session_id = @id AND "offset" + LENGTH(data) > @from ORDER BY "offset"
            """);
        command.Add("@id", sessionId).Add("@from", fromOffset);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var chunks = new List<OutputChunk>();
        while (await reader.ReadAsync(cancellationToken))
        {
            chunks.Add(new OutputChunk(reader.GetBoolean(1), reader.GetInt64(0), reader.GetFieldValue<byte[]>(2)));
        }
        return chunks;
    }

    public async Task CreateKeyAsync(ApiKeyRecord key, CancellationToken cancellationToken)
    {
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var command = Command(writing.Connection, null, """
            INSERT INTO api_keys (id, name, role, secret_hash, created_at, quotas) VALUES (@id, @name, @role, @hash, @now, @quotas)
            """);
        command.Add("@id", key.Id).Add("@name", key.Name).Add("@role", key.Role).Add("@hash", key.SecretHash)
            .Add("@now", key.CreatedAt).Add("@quotas", JsonSerializer.Serialize(key.Quotas, Json));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<ApiKeyRecord?> FindKeyAsync(string id, CancellationToken cancellationToken) =>
        (await ReadKeysAsync("WHERE id = @id", command => command.Add("@id", id), cancellationToken)).SingleOrDefault();

    public Task<IReadOnlyList<ApiKeyRecord>> ListKeysAsync(CancellationToken cancellationToken) =>
        ReadKeysAsync("ORDER BY created_at, id", _ => { }, cancellationToken);

    public async Task<bool> RevokeKeyAsync(string id, CancellationToken cancellationToken)
    {
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var command = Command(writing.Connection, null,
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, @now) WHERE id = @id");
        command.Add("@id", id).Add("@now", Time.GetUtcNow());
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public async Task<(int Queued, int Running)> CountUnfinishedAsync(string owner, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = Command(connection, null, """
            SELECT COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END), 0)
            FROM sessions WHERE owner = @owner AND status IN ('queued', 'running')
            """);
        command.Add("@owner", owner);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (Convert.ToInt32(reader.GetValue(0), System.Globalization.CultureInfo.InvariantCulture),
            Convert.ToInt32(reader.GetValue(1), System.Globalization.CultureInfo.InvariantCulture));
    }

    private async Task<IReadOnlyList<ApiKeyRecord>> ReadKeysAsync(string where, Action<DbCommand> parameters, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = Command(connection, null, $"SELECT id, name, role, secret_hash, created_at, revoked_at, quotas FROM api_keys {where}");
        parameters(command);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var keys = new List<ApiKeyRecord>();
        while (await reader.ReadAsync(cancellationToken))
        {
            keys.Add(new ApiKeyRecord(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                reader.GetFieldValue<DateTimeOffset>(4), reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5),
                JsonSerializer.Deserialize<Quotas>(reader.GetString(6), Json) ?? Quotas.None));
        }
        return keys;
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
                reader.IsDBNull(6) ? null : reader.GetString(6),
                reader.IsDBNull(7) ? null : reader.GetString(7))
            {
                Options = ReadOptions(reader, 8),
            });
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
