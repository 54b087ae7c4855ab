using System.Text.Json;
using Executor.Session.Dispatch;
using Executor.Session.OpenApi;
using Executor.Session.Sessions;
using Executor.Session.Storage;
using Executor.Session.Telemetry;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Executor.Session.Extensions;

public static class ServiceCollectionExtensions
{
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<SessionServiceOptions>()
            .BindConfiguration(SessionServiceOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddOptions<KestrelServerOptions>()
            .Configure<IOptions<SessionServiceOptions>>((kestrel, sessions) => kestrel.Limits.MaxRequestBodySize = sessions.Value.MaxUploadBytes);

        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);

        builder.Services.AddSingleton<SessionTelemetry>();
        builder.Services.AddSingleton<SessionStore>();
        builder.Services.AddHostedService<SessionStoreInitializer>();
        builder.Services.AddHealthChecks().AddCheck<SessionStoreHealthCheck>("database");
        builder.Services.AddSingleton<RunQueue>();
        builder.Services.AddSingleton<SessionCompletions>();
        builder.Services.AddSingleton<EngineStatus>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<EngineStatus>());
        builder.Services.AddHttpClient(EngineStatus.ClientName);
        builder.Services.AddSingleton<Dispatcher>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Dispatcher>());
        builder.Services.AddHostedService<SessionMaintenance>();

        builder.Services.AddHttpClient<RunnerClient>((sp, http) =>
            {
                var options = sp.GetRequiredService<IOptions<SessionServiceOptions>>().Value;
                http.BaseAddress = new Uri(options.RunnerUrl);
                http.Timeout = Timeout.InfiniteTimeSpan; // the resilience handler owns timeouts
            })
            .AddRunResilience(builder.Configuration.GetSection(SessionServiceOptions.Section).Get<SessionServiceOptions>() ?? new());

        builder.Services.AddOpenApi("v1", o => o.AddOperationTransformer<ExecuteFormTransformer>().AddSchemaTransformer<StatusEnumTransformer>());
        return builder;
    }

    /// <summary>
    /// A run lasts as long as the script's timeout, far past the standard handler's 10 s attempt and 30 s total.
    /// Retrying is safe because the runner treats the session id as the run id.
    /// </summary>
    private static IHttpClientBuilder AddRunResilience(this IHttpClientBuilder http, SessionServiceOptions sessions)
    {
#pragma warning disable EXTEXP0001 // RemoveAllResilienceHandlers: the documented way to replace the defaults' handler for one client.
        http.RemoveAllResilienceHandlers();
#pragma warning restore EXTEXP0001
        http.AddStandardResilienceHandler(o =>
            {
                var attempt = TimeSpan.FromSeconds(sessions.RunnerAttemptTimeoutSeconds);
                o.AttemptTimeout.Timeout = attempt;
                o.Retry.MaxRetryAttempts = 3;
                // Retry only what cannot have started a second run: no connection, a runner not ready, or an attempt
                // that timed out (a retry joins the same run). A connection lost mid-run is not retried: the script
                // may be what brought the runner down.
                o.Retry.ShouldHandle = args => ValueTask.FromResult(args.Outcome switch
                {
                    { Exception: HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError } } => true,
                    { Exception: Polly.Timeout.TimeoutRejectedException } => true,
                    { Result.StatusCode: System.Net.HttpStatusCode.ServiceUnavailable or System.Net.HttpStatusCode.TooManyRequests } => true,
                    _ => false,
                });
                o.TotalRequestTimeout.Timeout = attempt * 4 + TimeSpan.FromSeconds(30);
                o.CircuitBreaker.SamplingDuration = attempt * 2;
            });
        return http;
    }
}
