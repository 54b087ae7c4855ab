using System.Text.Json;
using Executor.Gateway.ApiDocs;
using Yarp.ReverseProxy.Transforms;

namespace Executor.Gateway.Extensions;

public static class ServiceCollectionExtensions
{
    public static IHostApplicationBuilder AddGatewayServices(this IHostApplicationBuilder builder)
    {
        // Routes and clusters are configuration ("ReverseProxy"); destinations are service discovery names.
        builder.Services.AddReverseProxy()
            .LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"))
            .AddConfigFilter<UploadBodyLimit>()
            // The gateway appends itself to X-Forwarded-For/Host/Proto instead of replacing them (YARP's default): a
            // tunnel or reverse proxy in front of the gateway, on this machine, then still shows, and SessionService's
            // open mode does not take its callers for local ones (see SessionService's OpenModeGate).
            .AddTransforms(transforms =>
            {
                transforms.UseDefaultForwarders = false;
                transforms.AddXForwarded(ForwardedTransformActions.Append);
                // YARP drops a client's RFC 7239 Forwarded header when it writes X-Forwarded-*: pass it on as it came.
                transforms.AddRequestTransform(transform =>
                {
                    if (transform.HttpContext.Request.Headers.TryGetValue("Forwarded", out var forwarded))
                    {
                        transform.ProxyRequest.Headers.Remove("Forwarded");
                        transform.ProxyRequest.Headers.TryAddWithoutValidation("Forwarded", forwarded.ToArray());
                    }
                    return ValueTask.CompletedTask;
                });
            })
            .AddServiceDiscoveryDestinationResolver();

        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = GatewayProblems.Describe);
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);

        builder.Services.AddHttpClient(nameof(OpenApiAggregator));
        // One aggregator for the process, so the last good document survives between requests.
        builder.Services.AddSingleton<OpenApiAggregator>();
        return builder;
    }
}
