using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Executor.AppHost;

/// <summary>The PostgreSQL database of the distributed mode, and the server the AppHost started for it, if it did.</summary>
internal sealed record SessionDatabase(IResourceBuilder<IResourceWithConnectionString> ConnectionString, IResourceBuilder<ExecutableResource>? Server);

/// <summary>What the services stand on that is not a service of ours: PostgreSQL and the runner hosts' private engines.</summary>
internal static class InfrastructureExtensions
{
    /// <summary>The max_connections of the server eng/postgres.sh runs.</summary>
    private const int ServerConnections = 200;

    /// <summary>What the replicas' pools leave of them: for an operator's psql, a backup, the bench's readings.</summary>
    private const int SpareConnections = 10;

    /// <summary>
    /// The store of the distributed mode: the server of ConnectionStrings:executor when given, otherwise one started
    /// from eng/postgres.sh in the data folder (on Executor:PostgresPort, or a free port). The replicas' pools share that
    /// server's connections (Npgsql's default of 100 each would ask 400 of its 200 at 4 replicas, and the last ones in would be
    /// refused): a replica waits for one of its own instead.
    /// </summary>
    public static SessionDatabase AddSessionDatabase(this IDistributedApplicationBuilder builder, ExecutorSettings executor)
    {
        if (!string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString("executor")))
        {
            return new SessionDatabase(builder.AddConnectionString("executor"), Server: null);
        }
        var root = Path.Combine(executor.DataDirectory, "postgres");
        var port = (executor["PostgresPort"] is { } given ? int.Parse(given, CultureInfo.InvariantCulture) : ExecutorSettings.FreePort())
            .ToString(CultureInfo.InvariantCulture);
        var server = builder.AddExecutable("postgres", "bash", executor.Repository, "eng/postgres.sh", "run", root, port);
        var pool = Math.Min(100, (ServerConnections - SpareConnections) / executor.SessionReplicas).ToString(CultureInfo.InvariantCulture);
        var database = builder.AddConnectionString("executor", ReferenceExpression.Create(
            $"Host=127.0.0.1;Port={port};Database=executor;Username=executor;Password={PostgresPassword(root)};Maximum Pool Size={pool}"));
        return new SessionDatabase(database, server);
    }

    /// <summary>
    /// A Docker engine of the host's own (eng/private-engine.sh run, in the foreground), healthy once the runtime images
    /// are loaded into it (the data runtime's is a gigabyte): the host's services start only then.
    /// </summary>
    public static IResourceBuilder<ExecutableResource> AddPrivateEngine(this IDistributedApplicationBuilder builder, RunnerHost host, PrivateEngine engine, ExecutorSettings executor)
    {
        var name = $"engine{host.Suffix}";
        builder.Services.AddHealthChecks().AddCheck($"{name}-images", () => File.Exists(engine.ReadyFile)
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy("loading the runtime images"));
        return builder.AddExecutable(name, "bash", executor.Repository,
                "eng/private-engine.sh", "run", engine.Name, executor["RuntimeImage"] ?? "executor-python:3.11",
                executor["DataRuntimeImage"] ?? "executor-python-data:3.11")
            .WithHealthCheck($"{name}-images");
    }

    /// <summary>The cluster's password, made here on first use and kept beside it (eng/postgres.sh uses it when it creates the cluster).</summary>
    private static string PostgresPassword(string root)
    {
        var file = Path.Combine(root, "password");
        if (!File.Exists(file))
        {
            Directory.CreateDirectory(root);
            File.WriteAllText(file, Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(18)));
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        }
        return File.ReadAllText(file).Trim();
    }
}
