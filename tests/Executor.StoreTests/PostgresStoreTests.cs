using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Executor.SessionCore.Storage;
using Npgsql;

namespace Executor.StoreTests;

/// <summary>The contract against a real PostgreSQL: a database of each test's own on a server the suite starts.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresStoreTests(PostgresServer server) : SessionStoreContract
{
    private NpgsqlDataSource? _dataSource;

    protected override async Task<SqlStore> CreateStoreAsync()
    {
        _dataSource = NpgsqlDataSource.Create(await server.CreateDatabaseAsync());
        var store = new PostgresStore(_dataSource, Time);
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }

    protected override async Task MigrateAsync(Schema.Migration migration)
    {
        await using var command = _dataSource!.CreateCommand(migration.Postgres);
        await command.ExecuteNonQueryAsync();
    }

    protected override async Task SetStoredOptionsAsync(string sessionId, string options)
    {
        await using var command = _dataSource!.CreateCommand("UPDATE sessions SET options = $1 WHERE id = $2");
        command.Parameters.AddWithValue(options);
        command.Parameters.AddWithValue(sessionId);
        await command.ExecuteNonQueryAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_dataSource is not null)
        {
            await _dataSource.DisposeAsync();
        }
    }

    [Fact]
    public async Task Replicas_starting_at_once_apply_each_migration_once()
    {
        await using var dataSource = NpgsqlDataSource.Create(await server.CreateDatabaseAsync());

        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => new PostgresStore(dataSource, Time).InitializeAsync(CancellationToken.None)));

        await using var command = dataSource.CreateCommand("SELECT count(*), count(DISTINCT version) FROM schema_migrations");
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        Assert.Equal(Schema.Migrations.Count, reader.GetInt64(0));
        Assert.Equal(reader.GetInt64(0), reader.GetInt64(1));
    }
}

/// <summary>A PostgreSQL server for the suite, started with the project's own script (as root; the server runs as postgres).</summary>
public sealed class PostgresServer : IAsyncLifetime
{
    private readonly string _root = Path.Combine("/var/tmp", "executor-store-tests-" + Guid.NewGuid().ToString("N")[..8]);
    private string _connectionString = "";

    public async Task InitializeAsync()
    {
        _connectionString = (await Script("start", _root, FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture))).Trim();
    }

    /// <summary>A new, empty database; its connection string.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = "t" + Guid.NewGuid().ToString("N");
        await using (var admin = new NpgsqlConnection(_connectionString))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", admin);
            await create.ExecuteNonQueryAsync();
        }
        return new NpgsqlConnectionStringBuilder(_connectionString) { Database = name }.ToString();
    }

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await Script("stop", _root);
        Directory.Delete(_root, recursive: true);
    }

    private static async Task<string> Script(params string[] arguments)
    {
        var script = Path.Combine(Root(), "eng", "postgres.sh");
        using var process = Process.Start(new ProcessStartInfo(script, arguments) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"eng/postgres.sh {string.Join(' ', arguments)} failed: {await errors}");
        return await output;
    }

    private static string Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Executor.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Executor.sln not found");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>
{
    public const string Name = "postgres";
}
