using System.Data.Common;

namespace Executor.SessionCore.Storage;

/// <summary>What a session has beyond its result: the files its run handed back, its interactive input, its callback.</summary>
public abstract partial class SqlStore : IResultFiles, IStdinLog, ICallbackOutbox
{
    /// <summary>How a queue statement skips rows another replica holds: nothing for SQLite (one writer), SKIP LOCKED for PostgreSQL.</summary>
    protected virtual string SkipLocked => "";

    public async Task<byte[]?> ReadResultFileAsync(string sessionId, string path, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = Command(connection, null, "SELECT content FROM result_files WHERE session_id = @id AND path = @path");
        command.Add("@id", sessionId).Add("@path", path);
        return await command.ExecuteScalarAsync(cancellationToken) as byte[];
    }

    public async Task<StdinAppend> AppendStdinAsync(string sessionId, byte[] data, long maxBytes, CancellationToken cancellationToken)
    {
        // The input so far ends where its last row does: one index lookup, not a sum over every row (the writer lock is
        // held meanwhile). Clients' messages reach here coalesced (see Live.StdinWriter).
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using (var insert = Command(writing.Connection, null, """
            INSERT INTO session_stdin (session_id, "offset", data)
            SELECT @id, t.total, @data FROM (SELECT COALESCE((SELECT "offset" + LENGTH(data) FROM session_stdin WHERE session_id = @id
                                                              ORDER BY "offset" DESC LIMIT 1), 0) AS total) t
            WHERE t.total + @length <= @max
              AND EXISTS (SELECT 1 FROM sessions WHERE id = @id AND stdin_closed_at IS NULL AND status IN ('queued', 'running'))
            """))
        {
            insert.Add("@id", sessionId).Add("@data", data).Add("@length", (long)data.Length).Add("@max", maxBytes);
            if (await insert.ExecuteNonQueryAsync(cancellationToken) == 1)
            {
                return StdinAppend.Appended;
            }
        }
        await using var open = Command(writing.Connection, null,
            "SELECT 1 FROM sessions WHERE id = @id AND stdin_closed_at IS NULL AND status IN ('queued', 'running')");
        open.Add("@id", sessionId);
        return await open.ExecuteScalarAsync(cancellationToken) is null ? StdinAppend.Closed : StdinAppend.OverLimit;
    }

    public async Task<bool> CloseStdinAsync(string sessionId, CancellationToken cancellationToken)
    {
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var command = Command(writing.Connection, null,
            "UPDATE sessions SET stdin_closed_at = @now WHERE id = @id AND stdin_closed_at IS NULL");
        command.Add("@id", sessionId).Add("@now", Time.GetUtcNow());
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public async Task<bool> MarkStdinAttachedAsync(string sessionId, CancellationToken cancellationToken)
    {
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var command = Command(writing.Connection, null,
            "UPDATE sessions SET stdin_attached_at = @now WHERE id = @id AND stdin_attached_at IS NULL");
        command.Add("@id", sessionId).Add("@now", Time.GetUtcNow());
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public async Task<StdinRead> ReadStdinAsync(string sessionId, long fromOffset, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        // The session's state first, its input after: input is only appended while stdin is open, so an end seen here
        // comes with every byte written before it. (Read the other way round, input and its end arriving between the
        // two statements would be an end without its input.)
        (string Status, DateTimeOffset? StartedAt, DateTimeOffset? AttachedAt, DateTimeOffset? ClosedAt)? state = null;
        await using (var session = Command(connection, null,
            "SELECT status, started_at, stdin_attached_at, stdin_closed_at FROM sessions WHERE id = @id"))
        {
            session.Add("@id", sessionId);
            await using var row = await session.ExecuteReaderAsync(cancellationToken);
            if (await row.ReadAsync(cancellationToken))
            {
                state = (row.GetString(0), Timestamp(row, 1), Timestamp(row, 2), Timestamp(row, 3));
            }
        }
        var chunks = new List<(long, byte[])>();
        await using (var command = Command(connection, null, """
            SELECT "offset", data FROM session_stdin WHERE session_id = @id AND "offset" + LENGTH(data) > @from ORDER BY "offset"
            """))
        {
            command.Add("@id", sessionId).Add("@from", fromOffset);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                chunks.Add((reader.GetInt64(0), reader.GetFieldValue<byte[]>(1)));
            }
        }
        return state is { } s
            ? new StdinRead(chunks, s.Status, s.StartedAt, s.AttachedAt, s.ClosedAt)
            : new StdinRead(chunks, null, null, null, null);
    }

    public async Task<IReadOnlyList<CallbackRecord>> LeaseDueCallbacksAsync(
        int max, int perDestination, IReadOnlyCollection<string> busy, TimeSpan lease, CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var command = Command(writing.Connection, null, "");
        // Per receiver, its earliest due callbacks first: one receiver with many due never fills a whole lease.
        command.CommandText = $"""
            UPDATE callbacks SET lease_until = @lease, attempts = attempts + 1
            WHERE session_id IN (
                SELECT c.session_id FROM callbacks c
                WHERE c.session_id IN (
                    SELECT ranked.session_id FROM (
                        SELECT d.session_id,
                               row_number() OVER (PARTITION BY COALESCE(d.destination, d.session_id) ORDER BY d.next_attempt_at, d.session_id) AS turn
                        FROM callbacks d JOIN sessions s ON s.id = d.session_id
                        WHERE {DueCallback("d")}{NotBusy(command, busy)}
                    ) ranked
                    WHERE ranked.turn <= @per_destination)
                ORDER BY c.next_attempt_at LIMIT @max {SkipLocked})
            RETURNING {CallbackColumns}
            """;
        command.Add("@now", now).Add("@lease", now + lease).Add("@max", max).Add("@per_destination", perDestination);
        return await ReadCallbacksAsync(command, cancellationToken);
    }

    /// <summary>A pending callback of an ended session, due and not leased now.</summary>
    private static string DueCallback(string alias) =>
        $"{alias}.state = 'pending' AND {alias}.next_attempt_at <= @now AND ({alias}.lease_until IS NULL OR {alias}.lease_until < @now) AND s.finished_at IS NOT NULL";

    private static string NotBusy(DbCommand command, IReadOnlyCollection<string> busy) =>
        busy.Count == 0 ? "" : $" AND (d.destination IS NULL OR d.destination NOT IN ({command.AddList("@busy", busy)}))";

    public async Task RecordCallbackAsync(string sessionId, bool delivered, DateTimeOffset? retryAt, string? error, CancellationToken cancellationToken)
    {
        await using var writing = await OpenWriteAsync(cancellationToken);
        await using var command = Command(writing.Connection, null, """
            UPDATE callbacks SET
                state = CASE WHEN @delivered THEN 'delivered' WHEN @retry IS NULL THEN 'failed' ELSE 'pending' END,
                delivered_at = CASE WHEN @delivered THEN @now ELSE NULL END,
                next_attempt_at = COALESCE(@retry, next_attempt_at),
                lease_until = NULL,
                last_error = @error
            WHERE session_id = @id
            """);
        command.Add("@id", sessionId).Add("@delivered", delivered).Add("@retry", retryAt, System.Data.DbType.DateTimeOffset)
            .Add("@error", error).Add("@now", Time.GetUtcNow());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<CallbackRecord?> FindCallbackAsync(string sessionId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = Command(connection, null, $"SELECT {CallbackColumns} FROM callbacks WHERE session_id = @id");
        command.Add("@id", sessionId);
        return (await ReadCallbacksAsync(command, cancellationToken)).SingleOrDefault();
    }

    public async Task<DateTimeOffset?> NextCallbackDueAsync(IReadOnlyCollection<string> busy, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadAsync(cancellationToken);
        await using var command = Command(connection, null, "");
        command.CommandText = $"""
            SELECT MIN(CASE WHEN d.lease_until IS NOT NULL AND d.lease_until > d.next_attempt_at THEN d.lease_until ELSE d.next_attempt_at END)
            FROM callbacks d JOIN sessions s ON s.id = d.session_id WHERE d.state = 'pending' AND s.finished_at IS NOT NULL{NotBusy(command, busy)}
            """;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? Timestamp(reader, 0) : null;
    }

    private const string CallbackColumns = "session_id, url, state, attempts, next_attempt_at, last_error, delivered_at, destination";

    private static async Task<IReadOnlyList<CallbackRecord>> ReadCallbacksAsync(DbCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var callbacks = new List<CallbackRecord>();
        while (await reader.ReadAsync(cancellationToken))
        {
            callbacks.Add(new CallbackRecord(reader.GetString(0), reader.GetString(1), reader.GetString(2),
                Convert.ToInt32(reader.GetValue(3), System.Globalization.CultureInfo.InvariantCulture),
                reader.GetFieldValue<DateTimeOffset>(4), reader.IsDBNull(5) ? null : reader.GetString(5), Timestamp(reader, 6),
                reader.IsDBNull(7) ? null : reader.GetString(7)));
        }
        return callbacks;
    }

    private static DateTimeOffset? Timestamp(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetFieldValue<DateTimeOffset>(ordinal);
}
