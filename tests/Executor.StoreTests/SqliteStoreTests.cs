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

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    private sealed class Environment(string root) : IHostEnvironment
    {
        public string EnvironmentName { get; set; } = "Tests";
        public string ApplicationName { get; set; } = "Executor.StoreTests";
        public string ContentRootPath { get; set; } = root;
        public IFileProvider ContentRootFileProvider { get; set; } = new NullFileProvider();
    }
}
