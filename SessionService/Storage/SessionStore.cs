using System.Text.Json;
using Executor.Session.Dispatch;
using Executor.Session.Sessions;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Executor.Session.Storage;

/// <summary>
/// The truth about sessions: their files, state and result, in one SQLite file (WAL). Every state change is one
/// conditional statement, so a session ends exactly once whoever races to end it (runner result, cleanup).
/// Writes go through one long-lived connection (SQLite has one writer anyway; its settings are made once), reads
/// through pooled ones, which WAL lets run beside the writer.
/// </summary>
public sealed class SessionStore : IAsyncDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    private readonly string _connectionString;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private SqliteConnection? _writer;

    public SessionStore(IOptions<SessionServiceOptions> options, IHostEnvironment environment, TimeProvider time)
    {
        var path = Path.GetFullPath(options.Value.DatabasePath, environment.ContentRootPath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true, DefaultTimeout = 5 }.ToString();
        _time = time;
        DatabasePath = path;
    }

    public string DatabasePath { get; }

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        _writer = new SqliteConnection(_connectionString);
        await _writer.OpenAsync(cancellationToken);
        await using (var pragmas = _writer.CreateCommand())
        {
            // WAL with NORMAL sync: durable across process crashes; a power cut may lose the last transactions.
            pragmas.CommandText = "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";
            await pragmas.ExecuteNonQueryAsync(cancellationToken);
        }
        var connection = _writer;
        await using var command = connection.CreateCommand();
        command.CommandText = """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS sessions (
                id          TEXT PRIMARY KEY,
                status      TEXT NOT NULL,
                created_at  TEXT NOT NULL,
                started_at  TEXT,
                finished_at TEXT,
                entrypoint  TEXT NOT NULL,
                options     TEXT,
                result      TEXT
            );
            CREATE INDEX IF NOT EXISTS sessions_unfinished ON sessions (status) WHERE status IN ('queued', 'running');
            CREATE INDEX IF NOT EXISTS sessions_finished_at ON sessions (finished_at) WHERE finished_at IS NOT NULL;
            CREATE TABLE IF NOT EXISTS session_files (
                session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
                path       TEXT NOT NULL,
                content    BLOB NOT NULL,
                PRIMARY KEY (session_id, path)
            );
            """;
        await command.ExecuteNonQueryAsync(cancellationToken);
        await MigrateAsync(connection, cancellationToken);
    }

    /// <summary>Brings a database made by an earlier version up to this schema: columns are only ever added.</summary>
    private static async Task MigrateAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        var columns = new HashSet<string>(StringComparer.Ordinal);
        await using (var info = connection.CreateCommand())
        {
            info.CommandText = "SELECT name FROM pragma_table_info('sessions')";
            await using var reader = await info.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                columns.Add(reader.GetString(0));
            }
        }
        if (!columns.Contains("options"))
        {
            await using var alter = connection.CreateCommand();
            alter.CommandText = "ALTER TABLE sessions ADD COLUMN options TEXT";
            await alter.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    public async Task CreateAsync(string id, string entrypoint, IReadOnlyList<SessionFile> files, RunOptions options, CancellationToken cancellationToken)
    {
        using var writing = await WriteAsync(cancellationToken);
        var connection = writing.Connection;
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using (var insert = connection.CreateCommand())
        {
            insert.Transaction = transaction;
            insert.CommandText = """
                INSERT INTO sessions (id, status, created_at, entrypoint, options)
                VALUES ($id, $status, $now, $entrypoint, $options)
                """;
            insert.Parameters.AddWithValue("$options", JsonSerializer.Serialize(options, Json));
            insert.Parameters.AddWithValue("$id", id);
            insert.Parameters.AddWithValue("$status", SessionStatus.Queued);
            insert.Parameters.AddWithValue("$now", _time.GetUtcNow());
            insert.Parameters.AddWithValue("$entrypoint", entrypoint);
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }
        foreach (var file in files)
        {
            await using var insertFile = connection.CreateCommand();
            insertFile.Transaction = transaction;
            insertFile.CommandText = "INSERT INTO session_files (session_id, path, content) VALUES ($id, $path, $content)";
            insertFile.Parameters.AddWithValue("$id", id);
            insertFile.Parameters.AddWithValue("$path", file.Path);
            insertFile.Parameters.AddWithValue("$content", file.Content);
            await insertFile.ExecuteNonQueryAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
    }

    public async Task<SessionRecord?> FindAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT status, created_at, started_at, finished_at, result FROM sessions WHERE id = $id";
        command.Parameters.AddWithValue("$id", id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadRecord(id, reader) : null;
    }

    private static SessionRecord ReadRecord(string id, SqliteDataReader reader) => new(
        id,
        reader.GetString(0),
        reader.GetFieldValue<DateTimeOffset>(1),
        reader.IsDBNull(2) ? null : reader.GetFieldValue<DateTimeOffset>(2),
        reader.IsDBNull(3) ? null : reader.GetFieldValue<DateTimeOffset>(3),
        reader.IsDBNull(4) ? null : JsonSerializer.Deserialize<RunResult>(reader.GetString(4), Json));

    /// <summary>What the runner needs to run a session: its entry point and files.</summary>
    public async Task<RunRequest?> LoadRunAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT s.entrypoint, s.options, f.path, f.content
            FROM sessions s JOIN session_files f ON f.session_id = s.id
            WHERE s.id = $id
            """;
        command.Parameters.AddWithValue("$id", id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        string? entrypoint = null;
        var options = RunOptions.None;
        var files = new List<RunFile>();
        while (await reader.ReadAsync(cancellationToken))
        {
            entrypoint = reader.GetString(0);
            options = reader.IsDBNull(1) ? RunOptions.None : JsonSerializer.Deserialize<RunOptions>(reader.GetString(1), Json) ?? RunOptions.None;
            files.Add(new RunFile(reader.GetString(2), reader.GetFieldValue<byte[]>(3)));
        }
        return entrypoint is null
            ? null
            : new RunRequest(id, files, entrypoint, options.Args, options.Stdin, options.TimeoutSeconds, options.MemoryMb);
    }

    /// <summary>Moves a queued (or, after a restart, running) session to running. False once it has ended.</summary>
    public async Task<bool> MarkRunningAsync(string id, CancellationToken cancellationToken)
    {
        using var writing = await WriteAsync(cancellationToken);
        await using var command = writing.Connection.CreateCommand();
        command.CommandText = """
            UPDATE sessions SET status = $running, started_at = COALESCE(started_at, $now)
            WHERE id = $id AND status IN ($queued, $running)
            """;
        command.Parameters.AddWithValue("$id", id);
        command.Parameters.AddWithValue("$now", _time.GetUtcNow());
        command.Parameters.AddWithValue("$queued", SessionStatus.Queued);
        command.Parameters.AddWithValue("$running", SessionStatus.Running);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    /// <summary>Ends a session with its result; only the first result counts. Null when it had already ended.</summary>
    public async Task<SessionRecord?> CompleteAsync(string id, RunResult result, CancellationToken cancellationToken)
    {
        using var writing = await WriteAsync(cancellationToken);
        await using var command = writing.Connection.CreateCommand();
        command.CommandText = """
            UPDATE sessions SET status = $status, finished_at = $now, result = $result
            WHERE id = $id AND status IN ($queued, $running)
            RETURNING status, created_at, started_at, finished_at, result
            """;
        command.Parameters.AddWithValue("$id", id);
        command.Parameters.AddWithValue("$status", result.Status);
        command.Parameters.AddWithValue("$now", _time.GetUtcNow());
        command.Parameters.AddWithValue("$result", JsonSerializer.Serialize(result, Json));
        command.Parameters.AddWithValue("$queued", SessionStatus.Queued);
        command.Parameters.AddWithValue("$running", SessionStatus.Running);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadRecord(id, reader) : null;
    }

    /// <summary>Sessions that have not ended (id and status), oldest first; with a cutoff, only those running since before it.</summary>
    public async Task<IReadOnlyList<(string Id, string Status)>> ListUnfinishedAsync(CancellationToken cancellationToken, DateTimeOffset? runningSince = null)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = runningSince is null
            ? "SELECT id, status FROM sessions WHERE status IN ($queued, $running) ORDER BY created_at"
            : "SELECT id, status FROM sessions WHERE status = $running AND started_at < $since ORDER BY created_at";
        command.Parameters.AddWithValue("$queued", SessionStatus.Queued);
        command.Parameters.AddWithValue("$running", SessionStatus.Running);
        command.Parameters.AddWithValue("$since", runningSince ?? DateTimeOffset.MinValue);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var sessions = new List<(string, string)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            sessions.Add((reader.GetString(0), reader.GetString(1)));
        }
        return sessions;
    }

    /// <summary>Deletes sessions (with their files) that ended before the cutoff; returns how many.</summary>
    public async Task<int> PurgeAsync(DateTimeOffset endedBefore, CancellationToken cancellationToken)
    {
        using var writing = await WriteAsync(cancellationToken);
        await using var command = writing.Connection.CreateCommand();
        command.CommandText = "DELETE FROM sessions WHERE finished_at IS NOT NULL AND finished_at < $cutoff";
        command.Parameters.AddWithValue("$cutoff", endedBefore);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>A pooled connection for reading.</summary>
    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    /// <summary>The writer connection, held until the returned lease is disposed.</summary>
    private async Task<WriteLease> WriteAsync(CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        return new WriteLease(_writer ?? throw new InvalidOperationException("The session store is not initialized"), _writeLock);
    }

    public async ValueTask DisposeAsync()
    {
        if (_writer is not null)
        {
            await _writer.DisposeAsync();
        }
        _writeLock.Dispose();
    }

    private readonly struct WriteLease(SqliteConnection connection, SemaphoreSlim gate) : IDisposable
    {
        public SqliteConnection Connection { get; } = connection;

        public void Dispose() => gate.Release();
    }
}

public sealed record SessionRecord(
    string Id,
    string Status,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    RunResult? Result);
