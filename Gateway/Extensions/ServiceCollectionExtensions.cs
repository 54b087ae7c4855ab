using System.Text.Json;
using Executor.Gateway.ApiDocs;

namespace Executor.Gateway.Extensions;

public static class ServiceCollectionExtensions
{
    public static IHostApplicationBuilder AddGatewayServices(this IHostApplicationBuilder builder)
    {
        // Routes and clusters are configuration ("ReverseProxy"); destinations are service discovery names.
        builder.Services.AddReverseProxy()
            .LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"))
            .AddServiceDiscoveryDestinationResolver();

        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = GatewayProblems.Describe);
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);

        builder.Services.AddHttpClient(nameof(OpenApiAggregator));
        // One aggregator for the process, so the last good document survives between requests.
        builder.Services.AddSingleton<OpenApiAggregator>();
        return builder;
    }
}
