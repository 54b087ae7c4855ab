var builder = DistributedApplication.CreateBuilder(args);

var executor = builder.Configuration.GetSection("Executor");
var deployment = executor["Deployment"] ?? "default";
var image = executor["RuntimeImage"] ?? "executor-python:3.11";
var dataDirectory = Path.GetFullPath(executor["DataDirectory"] ?? Path.Combine(builder.AppHostDirectory, "..", ".data"));

// Only these two hold the Docker socket. Both build sandboxes from the same settings.
var reapInterval = executor["ReapIntervalSeconds"] ?? "30";

var prewarm = builder.AddProject<Projects.PrewarmService>("prewarm")
    .WithEndpoint("http", Direct)
    .WithEnvironment("Sandbox__ReapIntervalSeconds", reapInterval)
    .WithEnvironment("Sandbox__Image", image)
    .WithEnvironment("Sandbox__Deployment", deployment)
    .WithEnvironment("Pool__TargetSize", executor["PoolSize"] ?? "2")
    .WithHttpHealthCheck("/health");

var runner = builder.AddProject<Projects.RunnerService>("runner")
    .WithEndpoint("http", Direct)
    .WithEnvironment("Runner__UseWarmPool", executor["UseWarmPool"] ?? "true")
    .WithEnvironment("Sandbox__ReapIntervalSeconds", reapInterval)
    .WithEnvironment("Sandbox__Image", image)
    .WithEnvironment("Sandbox__Deployment", deployment)
    .WithReference(prewarm)
    .WithHttpHealthCheck("/health");

var session = builder.AddProject<Projects.SessionService>("session")
    .WithEndpoint("http", Direct)
    .WithEnvironment("Sessions__DatabasePath", Path.Combine(dataDirectory, "sessions.db"))
    .WithEnvironment(context =>
    {
        // Optional: left to the service's own defaults unless the AppHost's configuration names them.
        foreach (var setting in (string[])["MaxConcurrentRuns", "QueueCapacity"])
        {
            if (executor[setting] is { } value)
            {
                context.EnvironmentVariables[$"Sessions__{setting}"] = value;
            }
        }
    })
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
