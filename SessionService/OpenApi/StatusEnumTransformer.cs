using System.Text.Json.Nodes;
using Executor.Session.Apis;
using Executor.SessionCore.Sessions;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Executor.Session.OpenApi;

/// <summary>States and statuses are closed sets: the document lists them, so clients can switch on them.</summary>
public sealed class StatusEnumTransformer : IOpenApiSchemaTransformer
{
    public Task TransformAsync(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        var type = context.JsonTypeInfo.Type;
        if (type == typeof(SessionResult))
        {
            Restrict(schema, "status", SessionStatus.Terminal);
        }
        else if (type == typeof(PendingResponse))
        {
            Restrict(schema, "status", [SessionStatus.StillRunning]);
            Restrict(schema, "state", [SessionStatus.Queued, SessionStatus.Running]);
        }
        else if (type == typeof(CleanupResponse))
        {
            Restrict(schema, "status", ["cleaned up"]);
        }
        return Task.CompletedTask;
    }

    private static void Restrict(OpenApiSchema schema, string property, IEnumerable<string> values)
    {
        if (schema.Properties?.TryGetValue(property, out var found) == true && found is OpenApiSchema target)
        {
            target.Enum = [.. values.Select(v => (JsonNode)JsonValue.Create(v))];
        }
    }
}
