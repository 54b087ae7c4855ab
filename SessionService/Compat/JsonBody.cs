using System.Text.Json;
using System.Text.Json.Nodes;

namespace Executor.Session.Compat;

/// <summary>
/// The JSON bodies compatible clients send, read whatever content type they claim (@jupyterlab/services sends JSON as
/// text/plain; E2B's SDKs sometimes none): one reader for every adapter.
/// </summary>
public static class JsonBody
{
    /// <summary>The request's body as a JSON object; null when it is empty or not one.</summary>
    public static async Task<JsonObject?> ReadObjectAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        try
        {
            return await JsonNode.ParseAsync(request.Body, cancellationToken: cancellationToken) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>A JSON string's value; null for anything else.</summary>
    public static string? Text(JsonNode? node) => node?.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : null;
}
