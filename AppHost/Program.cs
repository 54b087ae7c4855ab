using Executor.AppHost;

// The topology. The settings (Executor:*) are read in ExecutorSettings, passed to the services by the PassedSettings
// table, and the infrastructure (PostgreSQL, private engines) is started by InfrastructureExtensions.
var builder = DistributedApplication.CreateBuilder(args);
var executor = new ExecutorSettings(builder);

// The store: a SQLite file in the data folder, or in the distributed mode PostgreSQL, shared by every replica.
var database = executor.Distributed ? builder.AddSessionDatabase(executor) : null;

// SessionService: the truth about sessions. One process, or replicas behind the gateway sharing nothing but PostgreSQL.
var sessions = Enumerable.Range(1, executor.SessionReplicas)
    .Select(i => builder.AddProject<Projects.SessionService>(executor.SessionReplicas == 1 ? "session" : $"session-{i}")
        .WithDirectEndpoint(executor)
        .WithSessionStore(database, executor)
        .WithEnvironment("Sessions__HostSecret", executor.HostSecret)
        .WithPassedSettings(PassedTo.Session)
        .WithHttpHealthCheck("/health"))
    .ToList();

// Runner hosts: each a RunnerService and a PrewarmService beside one Docker engine. The runner calls SessionService for
// work (nobody calls a host) and leases warm containers from its own host's pool.
foreach (var host in executor.RunnerHosts())
{
    var engine = host.Engine is { } privateEngine ? builder.AddPrivateEngine(host, privateEngine, executor) : null;
    var prewarm = builder.AddProject<Projects.PrewarmService>($"prewarm{host.Suffix}")
        .WithDirectEndpoint(executor)
        .WithRunnerHost(host, engine)
        .WithPassedSettings(PassedTo.Prewarm)
        .WithHttpHealthCheck("/health");
    builder.AddProject<Projects.RunnerService>($"runner{host.Suffix}")
        .WithDirectEndpoint(executor)
        .WithRunnerHost(host, engine)
        .WithHostCredential(host, executor)
        .WithPassedSettings(PassedTo.Runner)
        .WithEgress(host, executor)
        .WithEnvironment("Runner__PrewarmUrl", $"http://prewarm{host.Suffix}")
        .WithReference(prewarm)
        .WithSessions(sessions)
        .WithHttpHealthCheck("/health");
}

// The gateway: the one public endpoint (the API, its docs, the playground, MCP on http://localhost:5000).
builder.AddProject<Projects.Gateway>("gateway")
    .WithSessions(sessions)
    .WithPublicEndpoint(executor)
    .WithHttpHealthCheck("/health");

builder.WithServiceEnvironment(executor);
builder.WithTelemetryExport(executor);
builder.Build().Run();
