using Executor.Contracts;
using Executor.SessionCore.Access;
using Executor.SessionCore.Callbacks;
using Executor.SessionCore.Dispatch;
using Executor.SessionCore.Runtimes;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;
using Executor.SessionCore.Telemetry;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Executor.SessionCore;

public static class SessionCoreServiceCollectionExtensions
{
    /// <summary>The connection string that selects the distributed mode (PostgreSQL); without it, the embedded SQLite file.</summary>
    public const string DatabaseName = "executor";

    /// <summary>
    /// The core of sessions, which every surface calls: its options, storage, access and quotas, callbacks, dispatch to
    /// the runner hosts and the submission. A surface with its own callback registers an <see cref="ICallbackFormat"/>.
    /// </summary>
    public static IHostApplicationBuilder AddSessionCore(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<SessionServiceOptions>()
            .BindConfiguration(SessionServiceOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddExceptionHandler<StoreUnavailableHandler>();

        builder.AddSessionStorage();
        builder.AddAccess();
        builder.AddCallbacks();
        builder.Services.AddSingleton<SessionTelemetry>();
        builder.Services.AddSingleton<SessionSignals>();
        builder.Services.AddSingleton<SessionCompletions>();
        builder.Services.AddSingleton<SubmittedJobs>();
        builder.Services.AddSingleton<ClaimBroker>();
        builder.Services.AddSingleton<RunnerHosts>();
        builder.Services.AddSingleton<RuntimeDirectory>();
        builder.Services.AddScoped<SessionSubmitter>();
        builder.Services.AddSingleton<SessionCommands>();
        builder.Services.AddSingleton<Sandboxes.SandboxTelemetry>();
        builder.Services.AddSingleton<Sandboxes.SandboxLedger>();
        builder.Services.AddSingleton<Sandboxes.SandboxOperations>();
        builder.Services.AddOptions<Sandboxes.SandboxServiceOptions>().BindConfiguration(Sandboxes.SandboxServiceOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<EgressOptions>().BindConfiguration(EgressOptions.Section)
            .PostConfigure<IConfiguration>((egress, configuration) => egress.ReadListValues(name => configuration[$"{EgressOptions.Section}:{name}"]));
        builder.Services.AddHostedService<SessionMaintenance>();
        builder.Services.AddHostedService<StoreWatch>();
        return builder;
    }

    /// <summary>
    /// The store, the queue, the host directory and the signal relay: PostgreSQL (through Aspire.Npgsql: health check,
    /// metrics, traces) when ConnectionStrings:executor is set, else the embedded SQLite file.
    /// </summary>
    private static void AddSessionStorage(this IHostApplicationBuilder builder)
    {
        if (!string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString(DatabaseName)))
        {
            builder.AddNpgsqlDataSource(DatabaseName, configureDataSourceBuilder: dataSource =>
            {
                // The same few statements over and over: prepared once per connection, parsed never again.
                dataSource.ConnectionStringBuilder.MaxAutoPrepare = 64;
                dataSource.ConnectionStringBuilder.AutoPrepareMinUsages = 2;
                dataSource.ConnectionStringBuilder.NoResetOnClose = true;
            });
            builder.Services.AddSingleton<PostgresStore>();
            builder.Services.AddSingleton<SqlStore>(sp => sp.GetRequiredService<PostgresStore>());
            builder.Services.AddSingleton<PostgresSignalRelay>();
            builder.Services.AddSingleton<ISignalRelay>(sp => sp.GetRequiredService<PostgresSignalRelay>());
            builder.Services.AddHostedService(sp => sp.GetRequiredService<PostgresSignalRelay>());
        }
        else
        {
            builder.Services.AddSingleton<SqliteStore>();
            builder.Services.AddSingleton<SqlStore>(sp => sp.GetRequiredService<SqliteStore>());
            builder.Services.AddSingleton<ISignalRelay, LocalSignalRelay>();
            builder.Services.AddHealthChecks().AddCheck<SessionStoreHealthCheck>("database");
        }
        builder.Services.AddSingleton<ISessionStore>(sp => sp.GetRequiredService<SqlStore>());
        builder.Services.AddSingleton<IWorkQueue>(sp => sp.GetRequiredService<SqlStore>());
        builder.Services.AddSingleton<IHostDirectory>(sp => sp.GetRequiredService<SqlStore>());
        builder.Services.AddSingleton<IApiKeyStore>(sp => sp.GetRequiredService<SqlStore>());
        builder.Services.AddSingleton<IOutputLog>(sp => sp.GetRequiredService<SqlStore>());
        builder.Services.AddSingleton<IResultFiles>(sp => sp.GetRequiredService<SqlStore>());
        builder.Services.AddSingleton<IStdinLog>(sp => sp.GetRequiredService<SqlStore>());
        builder.Services.AddSingleton<ICallbackOutbox>(sp => sp.GetRequiredService<SqlStore>());
        builder.Services.AddSingleton<Sandboxes.ISandboxStore>(sp => sp.GetRequiredService<SqlStore>());
        builder.Services.AddHostedService<SessionStoreInitializer>();
    }
}
