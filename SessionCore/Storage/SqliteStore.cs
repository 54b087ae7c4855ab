using System.Data.Common;
using Executor.SessionCore.Sessions;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Executor.SessionCore.Storage;

/// <summary>
/// The embedded store: one SQLite file (WAL) for one SessionService. Writes go through one long-lived connection
/// (SQLite has one writer anyway; its settings are made once), reads through pooled ones, which WAL lets run beside
/// the writer.
/// </summary>
public sealed class SqliteStore : SqlStore, IAsyncDisposable
{
    private readonly string _connectionString;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private SqliteConnection? _writer;

    public SqliteStore(IOptions<SessionServiceOptions> options, IHostEnvironment environment, TimeProvider time) : base(time)
    {
        var path = Path.GetFullPath(options.Value.DatabasePath, environment.ContentRootPath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true, DefaultTimeout = 5 }.ToString();
        DatabasePath = path;
    }

    public string DatabasePath { get; }

    public override string Description => $"SQLite at {DatabasePath}";

    public override async Task InitializeAsync(CancellationToken cancellationToken)
    {
        _writer = new SqliteConnection(_connectionString);
        await _writer.OpenAsync(cancellationToken);
        await using (var pragmas = Command(_writer, null,
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;"))
        {
            // WAL with NORMAL sync: durable across process crashes; a power cut may lose the last transactions.
            await pragmas.ExecuteNonQueryAsync(cancellationToken);
        }
        await using (var table = Command(_writer, null,
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"))
        {
            await table.ExecuteNonQueryAsync(cancellationToken);
        }
        var applied = await AppliedAsync(cancellationToken);
        foreach (var migration in Schema.Migrations.Where(m => !applied.Contains(m.Version)))
        {
            await using var transaction = await _writer.BeginTransactionAsync(cancellationToken);
            await using (var apply = Command(_writer, transaction, migration.Sqlite))
            {
                await apply.ExecuteNonQueryAsync(cancellationToken);
            }
            if (migration.Version == 1)
            {
                await AddLegacyOptionsColumnAsync(transaction, cancellationToken);
            }
            await using (var record = Command(_writer, transaction,
                "INSERT INTO schema_migrations (version, description, applied_at) VALUES (@version, @description, @now)"))
            {
                record.Add("@version", migration.Version).Add("@description", migration.Description).Add("@now", Time.GetUtcNow());
                await record.ExecuteNonQueryAsync(cancellationToken);
            }
            await transaction.CommitAsync(cancellationToken);
        }
    }

    /// <summary>A database made before migrations were numbered may lack the options column.</summary>
    private async Task AddLegacyOptionsColumnAsync(DbTransaction transaction, CancellationToken cancellationToken)
    {
        await using var info = Command(_writer!, transaction, "SELECT COUNT(*) FROM pragma_table_info('sessions') WHERE name = 'options'");
        if (Convert.ToInt32(await info.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture) == 0)
        {
            await using var alter = Command(_writer!, transaction, "ALTER TABLE sessions ADD COLUMN options TEXT");
            await alter.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    private async Task<HashSet<int>> AppliedAsync(CancellationToken cancellationToken)
    {
        await using var command = Command(_writer!, null, "SELECT version FROM schema_migrations");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var versions = new HashSet<int>();
        while (await reader.ReadAsync(cancellationToken))
        {
            versions.Add(reader.GetInt32(0));
        }
        return versions;
    }

    protected override async Task<DbTransaction?> BeginAsync(DbConnection connection, CancellationToken cancellationToken) =>
        await connection.BeginTransactionAsync(cancellationToken);

    protected override async Task<DbConnection> OpenReadAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    protected override async Task<WriteLease> OpenWriteAsync(CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        return new WriteLease(_writer ?? throw new InvalidOperationException("The session store is not initialized"), () =>
        {
            _writeLock.Release();
            return ValueTask.CompletedTask;
        });
    }

    public async ValueTask DisposeAsync()
    {
        if (_writer is not null)
        {
            await _writer.DisposeAsync();
        }
        _writeLock.Dispose();
    }
}
