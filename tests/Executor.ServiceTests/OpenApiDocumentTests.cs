using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Executor.ServiceTests;

/// <summary>
/// docs/openapi.json is the document the public API serves (the gateway's /openapi/v1.json), committed so that users can
/// generate clients from the repository. This test fails when the two differ; EXECUTOR_UPDATE_OPENAPI=1 rewrites the file.
/// </summary>
public sealed class OpenApiDocumentTests(SessionServiceFixture service) : IClassFixture<SessionServiceFixture>
{
    private const string UpdateVariable = "EXECUTOR_UPDATE_OPENAPI";

    private static readonly JsonSerializerOptions Written = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string CommittedPath => Path.Combine(Repository.Root, "docs", "openapi.json");

    [Fact]
    public async Task The_committed_openapi_document_is_the_one_the_gateway_serves()
    {
        var served = JsonNode.Parse(await service.Client.GetStringAsync("/openapi/v1.json"))!;
        if (Environment.GetEnvironmentVariable(UpdateVariable) == "1")
        {
            await File.WriteAllTextAsync(CommittedPath, served.ToJsonString(Written) + "\n");
        }

        var committed = File.Exists(CommittedPath) ? JsonNode.Parse(await File.ReadAllTextAsync(CommittedPath)) : null;
        Assert.True(JsonNode.DeepEquals(committed, served),
            $"docs/openapi.json is not the document the public API serves ({FirstDifference(committed, served, "$")}). If the API changed on "
            + $"purpose, regenerate it: {UpdateVariable}=1 dotnet test tests/Executor.ServiceTests --filter OpenApiDocumentTests");
    }

    /// <summary>Where two documents first differ, as a JSON path: what a reader of the failure needs to find the change.</summary>
    private static string FirstDifference(JsonNode? committed, JsonNode? served, string path)
    {
        switch (committed, served)
        {
            case (JsonObject a, JsonObject b):
                foreach (var name in a.Select(p => p.Key).Union(b.Select(p => p.Key)))
                {
                    if (!a.ContainsKey(name) || !b.ContainsKey(name))
                    {
                        return $"{path}.{name} is {(a.ContainsKey(name) ? "no longer served" : "served but not committed")}";
                    }
                    if (!JsonNode.DeepEquals(a[name], b[name]))
                    {
                        return FirstDifference(a[name], b[name], $"{path}.{name}");
                    }
                }
                return path;
            case (JsonArray a, JsonArray b) when a.Count == b.Count:
                var index = Enumerable.Range(0, a.Count).First(i => !JsonNode.DeepEquals(a[i], b[i]));
                return FirstDifference(a[index], b[index], $"{path}[{index}]");
            case (null, _):
                return $"{path}: nothing committed";
            default:
                return $"{path} differs";
        }
    }
}
