using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using System.Globalization;

var builder = DistributedApplication.CreateBuilder(args);

// The AppHost's own settings (Executor:*, see README) are passed on only when given: the services' own defaults apply
// otherwise, and so do the service settings of the environment it was started in (./run.sh passes its environment
// on: Sandbox__MemoryMb=256 ./run.sh reaches runner and prewarm).
var executor = builder.Configuration.GetSection("Executor");
var dataDirectory = Path.GetFullPath(executor["DataDirectory"] ?? Path.Combine(builder.AppHostDirectory, "..", ".data"));
var repository = Path.GetFullPath(Path.Combine(builder.AppHostDirectory, ".."));
var distributed = executor["Mode"] == "distributed";
var replicas = distributed ? Count("SessionReplicas", 2) : 1;
var hostCount = distributed ? Count("RunnerHosts", 2) : 1;
var deployment = executor["Deployment"] ?? "default";
// The secret each runner host's own credential is derived from (Executor.Contracts.HostCredentials), new at every
// start unless given (Executor:HostSecret: tests that act as a host derive credentials from it).
var hostSecret = executor["HostSecret"] is { Length: > 0 } givenSecret ? givenSecret : NewSecret();

// Distributed mode: PostgreSQL holds sessions, files, results and the queue. An existing server when
// ConnectionStrings:executor is given; otherwise one started from the project's script, in the data folder.
IResourceBuilder<IResourceWithConnectionString>? database = null;
IResourceBuilder<ExecutableResource>? postgres = null;
if (distributed)
{
    if (string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString("executor")))
    {
        var root = Path.Combine(dataDirectory, "postgres");
        var port = int.Parse(executor["PostgresPort"] ?? FreePort().ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        postgres = builder.AddExecutable("postgres", "bash", repository, "eng/postgres.sh", "run", root, port.ToString(CultureInfo.InvariantCulture));
        database = builder.AddConnectionString("executor", ReferenceExpression.Create(
            $"Host=127.0.0.1;Port={port.ToString(CultureInfo.InvariantCulture)};Database=executor;Username=executor;Password={PostgresPassword(root)}"));
    }
    else
    {
        database = builder.AddConnectionString("executor");
    }
}

var sessions = new List<IResourceBuilder<ProjectResource>>();
for (var i = 1; i <= replicas; i++)
{
    var session = builder.AddProject<Projects.SessionService>(replicas == 1 ? "session" : $"session-{i}")
        .WithEndpoint("http", Direct)
        .WithEnvironment("Sessions__HostSecret", hostSecret)
        .WithListSetting("Sessions__RevokedHosts", "RevokedHosts")
        .WithSetting("Sessions__QueueCapacity", "QueueCapacity")
        // Who may run code: EXECUTOR_OPERATOR_KEY from ./run.sh's environment reaches the service as it is.
        .WithSetting("EXECUTOR_OPERATOR_KEY", "OperatorKey")
        .WithSetting("Auth__Mode", "AuthMode")
        .WithSetting("Auth__RateWindowSeconds", "AuthRateWindowSeconds")
        .WithSetting("Auth__FailuresPerMinute", "AuthFailuresPerMinute")
        .WithSetting("Sessions__StdinAttachGraceSeconds", "StdinAttachGraceSeconds")
        // Callbacks: signed with EXECUTOR_CALLBACK_SECRET; receivers on non-public addresses only when allowed.
        .WithSetting("EXECUTOR_CALLBACK_SECRET", "CallbackSecret")
        .WithListSetting("Callbacks__AllowedHosts", "CallbackAllowedHosts")
        .WithHttpHealthCheck("/health");
    if (database is null)
    {
        session.WithEnvironment("Sessions__DatabasePath", Path.Combine(dataDirectory, "sessions.db"));
    }
    else
    {
        session.WithReference(database);
        if (postgres is not null)
        {
            session.WaitFor(postgres);
        }
    }
    sessions.Add(session);
}

// A runner host: RunnerService and PrewarmService beside one Docker engine (only these two hold its socket). The first
// uses the machine's engine (or Executor:DockerEndpoint); each further one gets a private engine of its own.
for (var h = 1; h <= hostCount; h++)
{
    var suffix = hostCount == 1 ? "" : $"-{h}";
    var hostName = hostCount == 1 ? executor["Host"] : $"host-{h}";
    // What runner and prewarm of this host present to each other, and only they hold (Executor:InternalToken: tests).
    var internalToken = executor["InternalToken"] is { Length: > 0 } givenToken ? givenToken : NewSecret();
    string? engine = h == 1 ? executor["DockerEndpoint"] : null;
    IResourceBuilder<ExecutableResource>? privateEngine = null;
    if (h > 1)
    {
        var engineName = $"{deployment}-host-{h}".ToLowerInvariant();
        privateEngine = builder.AddExecutable($"engine{suffix}", "bash", repository,
            "eng/private-engine.sh", "run", engineName, executor["RuntimeImage"] ?? "executor-python:3.11",
            executor["DataRuntimeImage"] ?? "executor-python-data:3.11");
        engine = $"unix:///var/tmp/executor-engines/{engineName}/docker.sock";
        // Ready once its images are loaded (the data runtime's is a gigabyte): the host's services start only then.
        var ready = $"/var/tmp/executor-engines/{engineName}/ready";
        builder.Services.AddHealthChecks().AddCheck($"engine{suffix}-images", () => File.Exists(ready)
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy("loading the runtime images"));
        privateEngine.WithHealthCheck($"engine{suffix}-images");
    }

    var prewarm = builder.AddProject<Projects.PrewarmService>($"prewarm{suffix}")
        .WithEndpoint("http", Direct)
        .WithSandboxSettings(hostName, engine, internalToken)
        .WithSetting("Pool__TargetSize", "PoolSize")
        .WithHttpHealthCheck("/health");
    var runner = builder.AddProject<Projects.RunnerService>($"runner{suffix}")
        .WithEndpoint("http", Direct)
        .WithSandboxSettings(hostName, engine, internalToken)
        .WithSetting("Runner__UseWarmPool", "UseWarmPool")
        .WithSetting("Runner__MaxConcurrentRuns", "MaxConcurrentRuns")
        // This host's own credential: it can act as this host only (Sandbox:Host's default is the machine's name).
        .WithEnvironment("Runner__HostToken", Executor.Contracts.HostCredentials.For(hostSecret, hostName ?? Environment.MachineName))
        .WithEnvironment("Runner__PrewarmUrl", $"http://prewarm{suffix}")
        .WithReference(prewarm)
        .WithSessions(sessions)
        .WaitFor(sessions[0])
        .WithHttpHealthCheck("/health");
    if (privateEngine is not null)
    {
        prewarm.WaitFor(privateEngine);
        runner.WaitFor(privateEngine);
    }
}

// The one external endpoint: the API and its docs on http://localhost:5000.
var gateway = builder.AddProject<Projects.Gateway>("gateway")
    .WithSessions(sessions)
    .WaitFor(sessions[0])
    .WithEndpoint("http", endpoint =>
    {
        endpoint.IsProxied = false;
        endpoint.Port = endpoint.TargetPort = int.Parse(executor["GatewayPort"] ?? "5000", CultureInfo.InvariantCulture);
        // Loopback only unless asked (Executor:GatewayHost=0.0.0.0): the open mode's anonymous callers are this machine's.
        if (executor["GatewayHost"] is { Length: > 0 } bind)
        {
            endpoint.TargetHost = bind;
        }
    })
    .WithExternalHttpEndpoints()
    .WithHttpHealthCheck("/health");

// Telemetry to an OTLP/HTTP collector of the caller's choosing (the tests' own), instead of the dashboard's.
if (executor["OtlpEndpoint"] is { Length: > 0 } otlp)
{
    foreach (var service in builder.Resources.OfType<ProjectResource>())
    {
        builder.CreateResourceBuilder(service).WithEnvironment(context =>
        {
            context.EnvironmentVariables["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp;
            context.EnvironmentVariables["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
            context.EnvironmentVariables["OTEL_BSP_SCHEDULE_DELAY"] = "500";
        });
    }
}

builder.Build().Run();

int Count(string setting, int fallback) => int.Parse(executor[setting] ?? fallback.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

// Services listen on their own ports instead of behind the orchestrator's proxy: every run crosses three of these
// hops, and each proxy hop costs about a millisecond. The ports are the launch profiles', or free ones when
// Executor:ServicePorts is "random" (tests and the benchmark, which may run beside a developer's stack).
void Direct(EndpointAnnotation endpoint)
{
    endpoint.IsProxied = false;
    if (executor["ServicePorts"] == "random" || distributed)
    {
        endpoint.Port = endpoint.TargetPort = FreePort();
    }
}

static string NewSecret() => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));

static int FreePort()
{
    using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
    listener.Start();
    return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
}

// The cluster's password, made here on first use and kept beside it (eng/postgres.sh uses it when it creates the cluster).
static string PostgresPassword(string root)
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

internal static class AppHostSettings
{
    /// <summary>Sets a service's setting from the AppHost's Executor:* setting, when that is given.</summary>
    public static IResourceBuilder<ProjectResource> WithSetting(this IResourceBuilder<ProjectResource> service, string variable, string setting) =>
        service.WithEnvironment(context =>
        {
            if (service.ApplicationBuilder.Configuration[$"Executor:{setting}"] is { Length: > 0 } value)
            {
                context.EnvironmentVariables[variable] = value;
            }
        });

    /// <summary>Sets a list setting (VARIABLE__0, __1 ...) from a comma-separated Executor:* setting, when that is given.</summary>
    public static IResourceBuilder<ProjectResource> WithListSetting(this IResourceBuilder<ProjectResource> service, string variable, string setting) =>
        service.WithEnvironment(context =>
        {
            var items = (service.ApplicationBuilder.Configuration[$"Executor:{setting}"] ?? "")
                .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            for (var i = 0; i < items.Length; i++)
            {
                context.EnvironmentVariables[$"{variable}__{i}"] = items[i];
            }
        });

    /// <summary>What runner and prewarm of one host must agree on, so that warm and cold sandboxes are the same.</summary>
    public static IResourceBuilder<ProjectResource> WithSandboxSettings(this IResourceBuilder<ProjectResource> service, string? host, string? engine, string internalToken)
    {
        service.WithEnvironment("Host__InternalToken", internalToken);
        service.WithSetting("Sandbox__Image", "RuntimeImage")
            .WithSetting("Runtimes__python-3.11-data__Image", "DataRuntimeImage")
            .WithSetting("Runtimes__python-3.11-data__PoolSize", "DataPoolSize")
            .WithSetting("Sandbox__Deployment", "Deployment")
            .WithSetting("Sandbox__Runtime", "Runtime")
            .WithSetting("Sandbox__ReapIntervalSeconds", "ReapIntervalSeconds");
        if (host is not null)
        {
            service.WithEnvironment("Sandbox__Host", host);
        }
        if (engine is not null)
        {
            service.WithEnvironment("Sandbox__DockerEndpoint", engine);
        }
        return service;
    }

    /// <summary>Every SessionService replica under the one name "session" (service discovery spreads calls over them).</summary>
    public static IResourceBuilder<ProjectResource> WithSessions(this IResourceBuilder<ProjectResource> service, IReadOnlyList<IResourceBuilder<ProjectResource>> sessions)
    {
        for (var i = 0; i < sessions.Count; i++)
        {
            service.WithEnvironment($"services__session__http__{i}", sessions[i].GetEndpoint("http"));
        }
        return service;
    }
}
