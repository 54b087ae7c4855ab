using System.Text.Json.Nodes;

namespace Executor.Gateway.ApiDocs;

/// <summary>
/// The public API as one OpenAPI document: the documents of the services behind the gateway, merged. Each service
/// describes only its public routes, so what is merged is exactly what the gateway routes. The last good document
/// is served while a service is briefly unreachable.
/// </summary>
public sealed partial class OpenApiAggregator(IHttpClientFactory httpClients, IConfiguration configuration, ILogger<OpenApiAggregator> logger)
{
    private volatile JsonObject? _lastGood;

    public async Task<JsonObject?> GetAsync(CancellationToken cancellationToken)
    {
        try
        {
            var sources = configuration.GetSection("ApiDocs:Sources").Get<string[]>() ?? [];
            var documents = new List<JsonObject>();
            foreach (var source in sources)
            {
                documents.Add(await FetchAsync(source, cancellationToken));
            }
            _lastGood = Merge(documents);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException
            && !cancellationToken.IsCancellationRequested)
        {
            LogSourceUnavailable(e.Message);
        }
        return _lastGood?.DeepClone().AsObject();
    }

    private async Task<JsonObject> FetchAsync(string url, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        var text = await httpClients.CreateClient(nameof(OpenApiAggregator)).GetStringAsync(url, timeout.Token);
        return JsonNode.Parse(text)?.AsObject() ?? throw new System.Text.Json.JsonException($"{url} is not an OpenAPI document");
    }

    public static JsonObject Merge(IReadOnlyList<JsonObject> documents)
    {
        var paths = new JsonObject();
        var schemas = new JsonObject();
        var securitySchemes = new JsonObject();
        JsonNode? security = null;
        var tags = new JsonArray();
        var tagNames = new HashSet<string>();
        foreach (var document in documents)
        {
            foreach (var (path, item) in document["paths"]?.AsObject() ?? [])
            {
                paths[path] = item?.DeepClone();
            }
            foreach (var (name, schema) in document["components"]?["schemas"]?.AsObject() ?? [])
            {
                if (!schemas.ContainsKey(name))
                {
                    schemas[name] = schema?.DeepClone();
                }
            }
            foreach (var (name, scheme) in document["components"]?["securitySchemes"]?.AsObject() ?? [])
            {
                if (!securitySchemes.ContainsKey(name))
                {
                    securitySchemes[name] = scheme?.DeepClone();
                }
            }
            security ??= document["security"]?.DeepClone();
            foreach (var tag in document["tags"]?.AsArray() ?? [])
            {
                if (tag?["name"]?.GetValue<string>() is { } name && tagNames.Add(name))
                {
                    tags.Add(tag.DeepClone());
                }
            }
        }

        return new JsonObject
        {
            ["openapi"] = (documents.Count > 0 ? documents[0]["openapi"] : null)?.DeepClone() ?? "3.1.1",
            ["info"] = new JsonObject
            {
                ["title"] = "Executor API",
                ["version"] = "v1",
                ["description"] = "Runs untrusted Python scripts in isolated, single-use Docker containers and returns their output.",
            },
            ["paths"] = paths,
            ["components"] = new JsonObject { ["schemas"] = schemas, ["securitySchemes"] = securitySchemes },
            ["security"] = security ?? new JsonArray(),
            ["tags"] = tags,
        };
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A service's OpenAPI document is unavailable ({Reason}); serving the last good one")]
    private partial void LogSourceUnavailable(string reason);
}
