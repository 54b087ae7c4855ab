using Scalar.AspNetCore;

namespace Executor.Gateway.ApiDocs;

public static class ApiDocsEndpoints
{
    public const string DocumentPath = "/openapi/v1.json";

    /// <summary>The merged OpenAPI document, Swagger UI at /apidocs and Scalar at /scalar.</summary>
    public static WebApplication MapApiDocs(this WebApplication app)
    {
        app.MapGet(DocumentPath, async (OpenApiAggregator docs, CancellationToken cancellationToken) =>
                await docs.GetAsync(cancellationToken) is { } document
                    ? Results.Text(document.ToJsonString(), "application/json")
                    : Results.Problem(
                        statusCode: StatusCodes.Status503ServiceUnavailable,
                        title: "API description unavailable",
                        detail: "The services behind the gateway could not be asked for their API description; retry shortly."))
            .ExcludeFromDescription();

        app.UseSwaggerUI(options =>
        {
            options.RoutePrefix = "apidocs";
            options.DocumentTitle = "Executor API";
            options.SwaggerEndpoint(DocumentPath, "Executor API v1");
        });

        app.MapScalarApiReference("/scalar", options =>
        {
            options.WithTitle("Executor API");
            options.WithOpenApiRoutePattern("/openapi/{documentName}.json");
            options.Telemetry = false;
            // Self-contained: no fonts fetched from Scalar's servers (they fail offline, and leak the visit).
            options.DefaultFonts = false;
        });
        return app;
    }
}
