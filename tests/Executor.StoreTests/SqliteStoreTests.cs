using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Executor.StoreTests;

/// <summary>The contract against the embedded store: a SQLite file of each test's own.</summary>
public sealed class SqliteStoreTests : SessionStoreContract
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "executor-store-" + Guid.NewGuid().ToString("N"));
    protected override async Task<SqlStore> CreateStoreAsync()
    {
        var store = new SqliteStore(Options.Create(new SessionServiceOptions { DatabasePath = Path.Combine(_directory, "sessions.db") }),
            new Environment(_directory), Time);
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }

    protected override Task MigrateAsync(Schema.Migration migration) => ExecuteAsync(migration.Sqlite);

    protected override Task SetStoredOptionsAsync(string sessionId, string options) =>
        ExecuteAsync("UPDATE sessions SET options = $options WHERE id = $id", ("$options", options), ("$id", sessionId));

    private async Task ExecuteAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(_directory, "sessions.db")}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }
        await command.ExecuteNonQueryAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    internal sealed class Environment(string root) : IHostEnvironment
    {
        public string EnvironmentName { get; set; } = "Tests";
        public string ApplicationName { get; set; } = "Executor.StoreTests";
        public string ContentRootPath { get; set; } = root;
        public IFileProvider ContentRootFileProvider { get; set; } = new NullFileProvider();
    }
}
