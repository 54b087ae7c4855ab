using Executor.Session.Uploads;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Executor.Session.OpenApi;

/// <summary>
/// Describes POST /execute's multipart body. The handler reads the form itself, so that every malformed upload gets
/// a problem with a precise detail; declaring the body with Accepts() would let routing reject some with a bare 415.
/// </summary>
public sealed class ExecuteFormTransformer : IOpenApiOperationTransformer
{
    public const string EndpointName = "Execute";

    public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        if (context.Description.ActionDescriptor.EndpointMetadata.OfType<IEndpointNameMetadata>().Any(n => n.EndpointName == EndpointName))
        {
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = true,
                Description = "The script to run.",
                Content = new Dictionary<string, OpenApiMediaType>
                {
                    ["multipart/form-data"] = new()
                    {
                        Schema = new OpenApiSchema
                        {
                            Type = JsonSchemaType.Object,
                            Required = new HashSet<string> { UploadReader.FileField },
                            Properties = new Dictionary<string, IOpenApiSchema>
                            {
                                [UploadReader.FileField] = new OpenApiSchema
                                {
                                    Type = JsonSchemaType.String,
                                    Format = "binary",
                                    Description = "A UTF-8 Python script whose name ends in .py (at most 1 MiB by default).",
                                },
                            },
                        },
                    },
                },
            };
        }
        return Task.CompletedTask;
    }
}
