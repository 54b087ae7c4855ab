using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Executor.EndToEndTests;

[Collection(StackCollection.Name)]
public sealed class ApiDocsTests(StackFixture stack)
{
    [Fact]
    public async Task The_openapi_document_describes_the_four_routes_with_their_schemas()
    {
        var document = await stack.Gateway.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        var paths = document.GetProperty("paths");

        Assert.True(paths.TryGetProperty("/execute", out var execute));
        Assert.True(paths.TryGetProperty("/result/{session_id}", out var result));
        Assert.True(paths.TryGetProperty("/cleanup/{session_id}", out var cleanup));
        Assert.True(paths.TryGetProperty("/prewarm", out var prewarm));
        Assert.Equal(4, paths.EnumerateObject().Count());

        var form = execute.GetProperty("post").GetProperty("requestBody").GetProperty("content").GetProperty("multipart/form-data").GetProperty("schema");
        Assert.Equal("binary", form.GetProperty("properties").GetProperty("file").GetProperty("format").GetString());
        Assert.True(execute.GetProperty("post").GetProperty("responses").TryGetProperty("413", out _));
        var resultResponses = result.GetProperty("get").GetProperty("responses");
        Assert.True(resultResponses.TryGetProperty("200", out _));
        Assert.True(resultResponses.TryGetProperty("202", out _));
        Assert.True(cleanup.TryGetProperty("post", out _));
        Assert.True(prewarm.TryGetProperty("post", out _));
        var schemas = document.GetProperty("components").GetProperty("schemas");
        Assert.True(schemas.GetProperty("SessionResult").GetProperty("properties").TryGetProperty("exit_code", out _));
    }

    [Fact]
    public async Task Swagger_ui_is_served_at_apidocs()
    {
        using var response = await stack.Gateway.GetAsync("/apidocs/index.html");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("swagger-ui", html, StringComparison.OrdinalIgnoreCase);
        var config = await stack.Gateway.GetStringAsync("/apidocs/index.js");
        Assert.Contains("/openapi/v1.json", config, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Scalar_is_served_at_scalar()
    {
        using var response = await stack.Gateway.GetAsync("/scalar/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("scalar", await response.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
    }
}
