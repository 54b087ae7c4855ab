using System.Data.Common;
using Executor.Contracts;
using Npgsql;

namespace Executor.SessionCore.Storage;

/// <summary>
/// The distributed store: PostgreSQL, shared by every SessionService replica. Claims lock the rows they pick with
/// FOR UPDATE SKIP LOCKED, so replicas claiming at once never hand one session to two hosts. Migrations run under an
/// advisory lock, so replicas starting at once apply each exactly once.
/// </summary>
public sealed class PostgresStore(NpgsqlDataSource dataSource, TimeProvider time) : SqlStore(time)
{
    /// <summary>Any constant: the advisory lock that serializes the replicas' migrations.</summary>
    private const long MigrationLock = 0x45786563_75746f72; // "Executor"

    public override string Description { get; } = Describe(dataSource);

    public override async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var locking = Command(connection, transaction, $"""
            SELECT pg_advisory_xact_lock({MigrationLock});
            CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL);
            """))
        {
            await locking.ExecuteNonQueryAsync(cancellationToken);
        }
        var applied = new HashSet<int>();
        await using (var versions = Command(connection, transaction, "SELECT version FROM schema_migrations"))
        await using (var reader = await versions.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                applied.Add(reader.GetInt32(0));
            }
        }
        foreach (var migration in Schema.Migrations.Where(m => !applied.Contains(m.Version)))
        {
            await using (var apply = Command(connection, transaction, migration.Postgres))
            {
                await apply.ExecuteNonQueryAsync(cancellationToken);
            }
            await using var record = Command(connection, transaction,
                "INSERT INTO schema_migrations (version, description, applied_at) VALUES (@version, @description, @now)");
            record.Add("@version", migration.Version).Add("@description", migration.Description).Add("@now", Time.GetUtcNow());
            await record.ExecuteNonQueryAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
    }

    private static string Describe(NpgsqlDataSource dataSource)
    {
        var settings = new NpgsqlConnectionStringBuilder(dataSource.ConnectionString);
        return $"PostgreSQL at {settings.Host}:{settings.Port}/{settings.Database}";
    }

    /// <summary>The first key of the per-owner advisory locks (the second is the owner's hash): "Quot".</summary>
    private const int OwnerLocks = 0x51756f74;

    protected override string LockOwnerSql { get; } = $"SELECT pg_advisory_xact_lock({OwnerLocks}, hashtext(@owner));";

    protected override Task<DbTransaction?> BeginAsync(DbConnection connection, CancellationToken cancellationToken) =>
        Task.FromResult<DbTransaction?>(null);

    /// <summary>
    /// One round trip, no write when there is nothing to claim: the claim's number comes from a sequence, and the host's
    /// liveness is checked in the same statement.
    /// </summary>
    public override async Task<Claim> ClaimAsync(
        string host, string instance, int max, IReadOnlyCollection<string>? runtimes, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"""
            WITH seq AS (SELECT nextval('claim_numbers') AS n),
            picked AS (
                SELECT id FROM sessions
                WHERE id IN ({FairQueue(RuntimeFilter(runtimes))}) AND status = 'queued'
                  AND EXISTS (SELECT 1 FROM hosts WHERE id = @host AND instance = @instance AND state = 'alive' AND engine_problem IS NULL)
                FOR UPDATE SKIP LOCKED)
            UPDATE sessions s SET status = 'running', host = @host, host_instance = @instance, claim_seq = (SELECT n FROM seq), started_at = @now
            FROM picked WHERE s.id = picked.id
            RETURNING s.id, s.created_at, s.entrypoint, s.options, s.trace_parent, s.claim_seq
            """);
        command.Add("@host", host).Add("@instance", instance).Add("@max", max).Add("@now", Time.GetUtcNow());
        AddRuntimes(command, runtimes);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var claimed = new List<ClaimedSession>();
        long seq = 0;
        while (await reader.ReadAsync(cancellationToken))
        {
            claimed.Add(ReadClaimed(reader));
            seq = reader.GetInt64(5);
        }
        return claimed.Count == 0 ? Claim.None : new Claim(host, seq, Oldest(claimed));
    }

    /// <summary>
    /// One statement, one round trip (a heartbeat comes every 2 s from every host): the previous process is read from the
    /// snapshot the upsert starts from.
    /// </summary>
    public override async Task<string?> BeatAsync(string host, Heartbeat beat, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"""
            WITH previous AS (SELECT instance FROM hosts WHERE id = @host),
            beat AS ({UpsertHostSql} RETURNING 1)
            SELECT (SELECT instance FROM previous), (SELECT count(*) FROM beat)
            """);
        AddBeat(command, host, beat);
        return await command.ExecuteScalarAsync(cancellationToken) is string previous && previous != beat.Instance ? previous : null;
    }

    protected override string SkipLocked => "FOR UPDATE OF c SKIP LOCKED";

    protected override async Task<DbConnection> OpenReadAsync(CancellationToken cancellationToken) =>
        await dataSource.OpenConnectionAsync(cancellationToken);

    protected override async Task<WriteLease> OpenWriteAsync(CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return new WriteLease(connection, connection.DisposeAsync);
    }
}
