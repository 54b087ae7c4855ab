using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Executor.Session.OpenApi;

/// <summary>
/// The API key in the OpenAPI document, as a bearer token or an X-API-Key header, so that Swagger UI and Scalar offer a
/// field for it and send it with every request they try.
/// </summary>
public sealed class SecuritySchemeTransformer : IOpenApiDocumentTransformer
{
    public Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes = new Dictionary<string, IOpenApiSecurityScheme>
        {
            ["bearer"] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "An API key as 'Authorization: Bearer <key>' (operators make keys with POST /admin/keys).",
            },
            ["apiKey"] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey,
                In = ParameterLocation.Header,
                Name = "X-API-Key",
                Description = "The same key in an X-API-Key header.",
            },
        };
        document.Security =
        [
            new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("bearer", document)] = [] },
            new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("apiKey", document)] = [] },
        ];
        return Task.CompletedTask;
    }
}
