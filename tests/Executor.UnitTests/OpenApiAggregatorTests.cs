using System.Text.Json.Nodes;
using Executor.Gateway.ApiDocs;

namespace Executor.UnitTests;

public class OpenApiAggregatorTests
{
    [Fact]
    public void Merge_keeps_every_path_and_schema_of_every_service()
    {
        var session = JsonNode.Parse("""{"openapi":"3.1.1","paths":{"/execute":{"post":{}},"/result/{id}":{"get":{}}},"components":{"schemas":{"A":{"type":"object"}}},"tags":[{"name":"Sessions"}]}""")!.AsObject();
        var prewarm = JsonNode.Parse("""{"openapi":"3.1.1","paths":{"/prewarm":{"post":{}}},"components":{"schemas":{"A":{"type":"string"},"B":{}}},"tags":[{"name":"Pool"}]}""")!.AsObject();

        var merged = OpenApiAggregator.Merge([session, prewarm]);

        Assert.Equal(["/execute", "/result/{id}", "/prewarm"], merged["paths"]!.AsObject().Select(p => p.Key));
        Assert.Equal("object", merged["components"]!["schemas"]!["A"]!["type"]!.GetValue<string>());
        Assert.NotNull(merged["components"]!["schemas"]!["B"]);
        Assert.Equal(2, merged["tags"]!.AsArray().Count);
        Assert.Equal("Executor API", merged["info"]!["title"]!.GetValue<string>());
    }
}
