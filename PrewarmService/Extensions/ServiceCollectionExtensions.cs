using System.Text.Json;
using Executor.Prewarm.Pool;
using Executor.Sandbox;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Executor.Prewarm.Extensions;

public static class ServiceCollectionExtensions
{
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddSandbox("prewarm");
        builder.Services.AddOptions<PoolOptions>()
            .BindConfiguration(PoolOptions.Section)
            .ValidateDataAnnotations()
            .Validate(o => o.MinSize <= o.MaxSize && o.TargetSize <= o.MaxSize, "Pool:MinSize and Pool:TargetSize must not exceed Pool:MaxSize")
            .ValidateOnStart();

        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
        builder.Services.AddSingleton<PoolMetrics>();
        builder.Services.AddSingleton<WarmPools>();
        builder.Services.AddSingleton<PoolReaper>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<PoolReaper>());
        builder.Services.AddHostedService<PoolFiller>();
        builder.Services.AddSingleton<RunnerLiveness>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RunnerLiveness>());
        builder.Services.AddHealthChecks().AddCheck<PoolHealthCheck>("pool");
        builder.Services.AddOpenApi("v1");
        return builder;
    }
}
