using Docker.DotNet;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Executor.Sandbox;

public static class SandboxServiceCollectionExtensions
{
    /// <summary>
    /// Registers the sandbox options (validated at start), the Docker client and its readiness check, the runtime, and
    /// the janitor. Call it before registering anything that hands containers to the janitor: hosted services stop in
    /// reverse order, so the janitor stops last and removes what they left it.
    /// </summary>
    public static IHostApplicationBuilder AddSandbox(this IHostApplicationBuilder builder, string serviceName)
    {
        builder.Services.AddOptions<SandboxOptions>()
            .BindConfiguration(SandboxOptions.Section)
            .ValidateDataAnnotations()
            .Validate(o => o.User.Split(':').All(p => uint.TryParse(p, out _)), "Sandbox:User must be numeric uid[:gid]: names depend on the image")
            .Validate(o => o.TimeoutSeconds <= o.MaxTimeoutSeconds, "Sandbox:TimeoutSeconds must not exceed Sandbox:MaxTimeoutSeconds")
            .Validate(o => o.MemoryMb <= o.MaxMemoryMb, "Sandbox:MemoryMb must not exceed Sandbox:MaxMemoryMb")
            .ValidateOnStart();

        builder.Services.AddOptions<InternalAccessOptions>()
            .BindConfiguration(InternalAccessOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.Services.AddSingleton(new SandboxInstance(serviceName));
        builder.Services.TryAddSingleton(TimeProvider.System);
        // Long enough to remove every container this process holds (parallel removals of 64 take about 3 s); an
        // orchestrator's own grace period must be at least this (docker-compose stop_grace_period).
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        builder.Services.AddSingleton<ContainerJanitor>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ContainerJanitor>());
        builder.Services.AddSingleton<IDockerClient>(sp =>
        {
            var endpoint = sp.GetRequiredService<IOptions<SandboxOptions>>().Value.DockerEndpoint;
            endpoint = string.IsNullOrWhiteSpace(endpoint) ? Environment.GetEnvironmentVariable("DOCKER_HOST") : endpoint;
            endpoint = string.IsNullOrWhiteSpace(endpoint) ? "unix:///var/run/docker.sock" : endpoint;
            return new DockerClientBuilder().WithEndpoint(new Uri(endpoint)).Build();
        });
        builder.Services.AddSingleton<IContainerEngine, DockerContainerEngine>();
        builder.Services.AddSingleton<RuntimeCatalog>();
        builder.Services.AddSingleton<LauncherFiles>();
        builder.Services.AddSingleton<SandboxRuntime>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<SandboxRuntime>());
        builder.Services.AddHealthChecks().AddCheck<DockerHealthCheck>("docker");
        return builder;
    }
}
