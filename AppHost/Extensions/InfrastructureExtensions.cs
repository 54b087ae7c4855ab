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
    /// <summary>
    /// The store of the distributed mode: the server of ConnectionStrings:executor when given, otherwise one started
    /// from eng/postgres.sh in the data folder (on Executor:PostgresPort, or a free port).
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
        var database = builder.AddConnectionString("executor", ReferenceExpression.Create(
            $"Host=127.0.0.1;Port={port};Database=executor;Username=executor;Password={PostgresPassword(root)}"));
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
