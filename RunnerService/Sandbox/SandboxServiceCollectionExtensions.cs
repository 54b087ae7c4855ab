using Docker.DotNet;
using Microsoft.Extensions.Options;

namespace Executor.Sandbox;

public static class SandboxServiceCollectionExtensions
{
    /// <summary>Registers the sandbox options (validated at start), the Docker client and its readiness check.</summary>
    public static IHostApplicationBuilder AddSandbox(this IHostApplicationBuilder builder, string serviceName)
    {
        builder.Services.AddOptions<SandboxOptions>()
            .BindConfiguration(SandboxOptions.Section)
            .ValidateDataAnnotations()
            .Validate(o => o.User.Split(':').All(p => uint.TryParse(p, out _)), "Sandbox:User must be numeric uid[:gid]: names depend on the image")
            .Validate(o => o.TimeoutSeconds <= o.MaxTimeoutSeconds, "Sandbox:TimeoutSeconds must not exceed Sandbox:MaxTimeoutSeconds")
            .Validate(o => o.MemoryMb <= o.MaxMemoryMb, "Sandbox:MemoryMb must not exceed Sandbox:MaxMemoryMb")
            .ValidateOnStart();

        builder.Services.AddSingleton(new SandboxInstance(serviceName));
        builder.Services.AddSingleton<IDockerClient>(sp =>
        {
            var endpoint = sp.GetRequiredService<IOptions<SandboxOptions>>().Value.DockerEndpoint;
            endpoint = string.IsNullOrWhiteSpace(endpoint) ? Environment.GetEnvironmentVariable("DOCKER_HOST") : endpoint;
            endpoint = string.IsNullOrWhiteSpace(endpoint) ? "unix:///var/run/docker.sock" : endpoint;
            return new DockerClientBuilder().WithEndpoint(new Uri(endpoint)).Build();
        });
        builder.Services.AddSingleton<IContainerEngine, DockerContainerEngine>();
        builder.Services.AddHealthChecks().AddCheck<DockerHealthCheck>("docker");
        return builder;
    }
}
