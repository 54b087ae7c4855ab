using System.Text.Json;
using Executor.Contracts;
using Executor.Runner.Egress;
using Executor.Runner.Runs;
using Executor.Runner.Sandboxes;
using Executor.Sandbox;
using Microsoft.Extensions.Options;

namespace Executor.Runner.Extensions;

public static class ServiceCollectionExtensions
{
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        // First: held before this process takes any container, released after it has removed them all (stops run in reverse).
        builder.AddRunnerLease();
        builder.AddSandbox("runner");
        builder.Services.AddOptions<RunnerOptions>()
            .BindConfiguration(RunnerOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.Services.AddMemoryCache(o => o.SizeLimit = 100_000);
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);

        builder.Services.AddSingleton<ResultReporter>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ResultReporter>());
        builder.Services.AddSingleton<RuntimeProbe>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RuntimeProbe>());
        builder.Services.AddSingleton<RunnerReaper>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RunnerReaper>());
        builder.Services.AddSingleton<LeasedNames>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<LeasedNames>());
        builder.Services.AddSingleton<WarmSlots>();
        builder.Services.AddHostedService(sp =>
        {
            var slots = sp.GetRequiredService<WarmSlots>();
            slots.StartAfter = sp.GetRequiredService<RunnerReaper>().FirstSweep;
            return slots;
        });
        builder.Services.AddSingleton<ContainerSource>();
        builder.Services.AddSingleton<SandboxRunner>();
        builder.Services.AddSingleton<RunRegistry>();
        builder.Services.AddSingleton<HostHeartbeat>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<HostHeartbeat>());
        builder.Services.AddHealthChecks().AddCheck<HostHeartbeat>("session");
        builder.Services.AddSingleton<SandboxRegistry>();
        builder.Services.AddSingleton<ClaimGates>();
        builder.Services.AddHostedService<ClaimLoop>();
        builder.Services.AddHostedService<SandboxClaimLoop>();
        // Registered last so they stop first: runs in progress end, and sandboxes end with their containers removed,
        // before the slots and the janitor stop.
        builder.Services.AddHostedService(sp => sp.GetRequiredService<SandboxRegistry>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RunRegistry>());

        builder.AddSessionClient();
        builder.AddPrewarmClient();
        builder.AddEgress();
        return builder;
    }

    /// <summary>
    /// The run protocol's client: claims and heartbeats are long polls (held up to 20 s and 2 s), so the standard
    /// handler's 10 s attempt timeout does not fit them, and their loops retry on their own; results are retried by
    /// the reporter. SessionService's replicas are found by service discovery, round robin.
    /// </summary>
    private static void AddSessionClient(this IHostApplicationBuilder builder)
    {
#pragma warning disable EXTEXP0001 // RemoveAllResilienceHandlers: the documented way to replace the defaults' handler for one client.
        builder.Services.AddHttpClient<SessionClient>((sp, http) =>
            {
                var options = sp.GetRequiredService<IOptions<RunnerOptions>>().Value;
                http.BaseAddress = new Uri(options.SessionUrl);
                // Each call has its own timeout (SessionClient); a run's output streams for as long as the run lasts.
                http.Timeout = Timeout.InfiniteTimeSpan;
                http.DefaultRequestHeaders.Add(ContractsJson.HostTokenHeader, options.HostToken);
            })
            .RemoveAllResilienceHandlers();
#pragma warning restore EXTEXP0001
    }

    /// <summary>The liveness lease is one request held open for the process's life: no resilience handler, no timeout.</summary>
    private static void AddRunnerLease(this IHostApplicationBuilder builder)
    {
#pragma warning disable EXTEXP0001 // RemoveAllResilienceHandlers: the documented way to replace the defaults' handler for one client.
        builder.Services.AddHttpClient<RunnerLease>((sp, http) =>
            {
                http.BaseAddress = new Uri(sp.GetRequiredService<IOptions<RunnerOptions>>().Value.PrewarmUrl);
                http.Timeout = Timeout.InfiniteTimeSpan;
                http.DefaultRequestHeaders.Add(InternalAccess.Header, sp.GetRequiredService<IOptions<InternalAccessOptions>>().Value.InternalToken);
                http.DefaultRequestHeaders.Add(PoolRoutes.RunnerHeader, sp.GetRequiredService<SandboxInstance>().Id);
            })
            .RemoveAllResilienceHandlers();
#pragma warning restore EXTEXP0001
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RunnerLease>());
    }

    private static void AddPrewarmClient(this IHostApplicationBuilder builder)
    {
        var runner = builder.Configuration.GetSection(RunnerOptions.Section).Get<RunnerOptions>() ?? new();
#pragma warning disable EXTEXP0001 // RemoveAllResilienceHandlers: the documented way to replace the defaults' handler for one client.
        builder.Services.AddHttpClient<PrewarmClient>((sp, http) =>
            {
                http.BaseAddress = new Uri(sp.GetRequiredService<IOptions<RunnerOptions>>().Value.PrewarmUrl);
                http.DefaultRequestHeaders.Add(InternalAccess.Header, sp.GetRequiredService<IOptions<InternalAccessOptions>>().Value.InternalToken);
            })
            // A lease is on every run's hot path: when the pool is slow or down, give up fast and start cold.
            .RemoveAllResilienceHandlers()
            .AddStandardResilienceHandler(o =>
            {
                // Room for the configured wait for an empty pool, plus the call itself.
                var wait = TimeSpan.FromMilliseconds(runner.EmptyPoolWaitMs);
                o.AttemptTimeout.Timeout = wait + TimeSpan.FromMilliseconds(750);
                o.Retry.MaxRetryAttempts = 1;
                o.Retry.Delay = TimeSpan.FromMilliseconds(20);
                o.TotalRequestTimeout.Timeout = 2 * wait + TimeSpan.FromSeconds(2);
                o.CircuitBreaker.SamplingDuration = 2 * wait + TimeSpan.FromSeconds(10);
                o.CircuitBreaker.BreakDuration = TimeSpan.FromSeconds(5);
            });
#pragma warning restore EXTEXP0001
    }
}
