var builder = DistributedApplication.CreateBuilder(args);

// The AppHost's own settings (Executor:*, see appsettings.json) are passed on only when given: the services' own
// defaults apply otherwise, and so do the service settings of the environment it was started in (./run.sh passes
// its environment on: Sandbox__MemoryMb=256 ./run.sh reaches runner and prewarm).
var executor = builder.Configuration.GetSection("Executor");
var dataDirectory = Path.GetFullPath(executor["DataDirectory"] ?? Path.Combine(builder.AppHostDirectory, "..", ".data"));

// Only these two hold the Docker socket. Both build sandboxes from the same settings.
var prewarm = builder.AddProject<Projects.PrewarmService>("prewarm")
    .WithEndpoint("http", Direct)
    .WithSandboxSettings()
    .WithSetting("Pool__TargetSize", "PoolSize")
    .WithHttpHealthCheck("/health");

var runner = builder.AddProject<Projects.RunnerService>("runner")
    .WithEndpoint("http", Direct)
    .WithSandboxSettings()
    .WithSetting("Runner__UseWarmPool", "UseWarmPool")
    .WithReference(prewarm)
    .WithHttpHealthCheck("/health");

var session = builder.AddProject<Projects.SessionService>("session")
    .WithEndpoint("http", Direct)
    .WithEnvironment("Sessions__DatabasePath", Path.Combine(dataDirectory, "sessions.db"))
    .WithSetting("Sessions__MaxConcurrentRuns", "MaxConcurrentRuns")
    .WithSetting("Sessions__QueueCapacity", "QueueCapacity")
    .WithReference(runner)
    .WaitFor(runner)
    .WithHttpHealthCheck("/health");

// The one external endpoint: the API and its docs on http://localhost:5000.
builder.AddProject<Projects.Gateway>("gateway")
    .WithReference(session)
    .WithReference(prewarm)
    .WaitFor(session)
    .WithEndpoint("http", endpoint =>
    {
        endpoint.IsProxied = false;
        endpoint.Port = endpoint.TargetPort = int.Parse(executor["GatewayPort"] ?? "5000", System.Globalization.CultureInfo.InvariantCulture);
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

// Services listen on their own ports instead of behind the orchestrator's proxy: every run crosses three of these
// hops, and each proxy hop costs about a millisecond. The ports are the launch profiles', or free ones when
// Executor:ServicePorts is "random" (tests and the benchmark, which may run beside a developer's stack).
void Direct(EndpointAnnotation endpoint)
{
    endpoint.IsProxied = false;
    if (executor["ServicePorts"] == "random")
    {
        endpoint.Port = endpoint.TargetPort = FreePort();
    }
}

static int FreePort()
{
    using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
    listener.Start();
    return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
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

    /// <summary>What runner and prewarm must agree on, so that warm and cold sandboxes are the same.</summary>
    public static IResourceBuilder<ProjectResource> WithSandboxSettings(this IResourceBuilder<ProjectResource> service) => service
        .WithSetting("Sandbox__Image", "RuntimeImage")
        .WithSetting("Sandbox__Deployment", "Deployment")
        .WithSetting("Sandbox__Runtime", "Runtime")
        .WithSetting("Sandbox__DockerEndpoint", "DockerEndpoint")
        .WithSetting("Sandbox__ReapIntervalSeconds", "ReapIntervalSeconds");
}
