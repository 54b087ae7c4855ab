using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Executor.ServiceTests;

/// <summary>The API documents and their viewers, as the gateway serves them.</summary>
public sealed class ApiDocsTests(SessionServiceFixture service) : IClassFixture<SessionServiceFixture>
{
    [Fact]
    public async Task The_openapi_document_describes_the_public_routes_with_their_schemas()
    {
        var document = await service.Client.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        var paths = document.GetProperty("paths");

        Assert.True(paths.TryGetProperty("/execute", out var execute));
        Assert.True(paths.TryGetProperty("/result/{session_id}", out var result));
        Assert.True(paths.TryGetProperty("/cleanup/{session_id}", out var cleanup));
        Assert.True(paths.TryGetProperty("/prewarm", out var prewarm));
        Assert.True(paths.TryGetProperty("/admin/hosts", out _));
        Assert.True(paths.TryGetProperty("/admin/keys", out _));
        Assert.True(paths.TryGetProperty("/admin/keys/{id}", out _));
        Assert.True(paths.TryGetProperty("/result/{session_id}/events", out _));
        Assert.True(paths.TryGetProperty("/result/{session_id}/attach", out _));
        Assert.True(paths.TryGetProperty("/result/{session_id}/files/{path}", out _));
        Assert.True(paths.TryGetProperty("/result/{session_id}/callback", out _));
        Assert.True(paths.TryGetProperty("/runtimes", out _));
        // The compatible surfaces, each a group of its own.
        foreach (var (path, tag) in new[] { ("/execute_pytest", "Engine compatibility"), ("/api/v2/execute", "Piston v2"), ("/submissions", "Judge0 CE") })
        {
            Assert.Equal(tag, paths.GetProperty(path).GetProperty("post").GetProperty("tags")[0].GetString());
        }
        Assert.True(execute.GetProperty("post").GetProperty("requestBody").GetProperty("content").GetProperty("application/json")
            .GetProperty("schema").GetProperty("properties").TryGetProperty("code", out _));
        // Only the public routes: nothing of the run protocol (/hosts/...) or of the pool's internal routes.
        foreach (var path in new[] { "/sandboxes", "/sandboxes/{sandbox_id}", "/sandboxes/{sandbox_id}/run", "/sandboxes/{sandbox_id}/calls/{call_id}",
            "/sandboxes/{sandbox_id}/interrupt", "/sandboxes/{sandbox_id}/restart", "/sandboxes/{sandbox_id}/files", "/sandboxes/{sandbox_id}/files/{path}" })
        {
            Assert.Equal("Sandboxes", paths.GetProperty(path).EnumerateObject().First().Value.GetProperty("tags")[0].GetString());
        }
        Assert.Equal(33, paths.EnumerateObject().Count());

        var form = execute.GetProperty("post").GetProperty("requestBody").GetProperty("content").GetProperty("multipart/form-data").GetProperty("schema");
        var fields = form.GetProperty("properties");
        Assert.Equal("binary", fields.GetProperty("file").GetProperty("items").GetProperty("format").GetString());
        foreach (var field in new[] { "entrypoint", "stdin", "args", "timeout_seconds", "memory_mb", "stdin_mode", "callback_url", "runtime", "test_cases", "comparison",
            "tolerance", "stop_on_failure", "compiler_options", "compile_timeout_seconds" })
        {
            Assert.True(fields.TryGetProperty(field, out _), $"the form field '{field}' is not documented");
        }
        Assert.True(execute.GetProperty("post").GetProperty("responses").TryGetProperty("413", out _));
        var resultResponses = result.GetProperty("get").GetProperty("responses");
        Assert.True(resultResponses.TryGetProperty("200", out _));
        Assert.True(resultResponses.TryGetProperty("202", out _));
        Assert.True(cleanup.TryGetProperty("post", out _));
        Assert.True(prewarm.TryGetProperty("post", out _));
        var schemas = document.GetProperty("components").GetProperty("schemas");
        var model = schemas.GetProperty("SessionResult").GetProperty("properties");
        Assert.True(model.TryGetProperty("exit_code", out _));
        Assert.True(model.TryGetProperty("limits", out _));
        Assert.Equal(
            ["completed", "failed", "timed_out", "memory_exceeded", "output_limit_exceeded", "cancelled", "internal_error", "egress_limit_exceeded",
                "compilation_error"],
            model.GetProperty("status").GetProperty("enum").EnumerateArray().Select(e => e.GetString()));
        Assert.Contains("memory_exceeded", model.GetProperty("status").GetProperty("description").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Swagger_ui_is_served_at_apidocs()
    {
        using var response = await service.Client.GetAsync("/apidocs/index.html");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("swagger-ui", html, StringComparison.OrdinalIgnoreCase);
        var config = await service.Client.GetStringAsync("/apidocs/index.js");
        Assert.Contains("/openapi/v1.json", config, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Scalar_is_served_at_scalar_over_the_same_document_and_fetches_nothing_from_outside()
    {
        using var response = await service.Client.GetAsync("/scalar/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var page = await response.Content.ReadAsStringAsync();
        // Scalar's page script resolves a relative source against the application's root (the page path less "/scalar/").
        var source = System.Text.RegularExpressions.Regex.Match(page, "\"sources\":\\[\\{[^}]*\"url\":\"([^\"]+)\"").Groups[1].Value;
        Assert.False(string.IsNullOrEmpty(source), "Scalar's page names no OpenAPI source");
        var document = await service.Client.GetFromJsonAsync<JsonElement>(new Uri(new Uri(service.Client.BaseAddress!, "/"), source));
        Assert.True(document.GetProperty("paths").TryGetProperty("/prewarm", out _), $"Scalar's source {source} is not the merged document");
        Assert.Contains("\"withDefaultFonts\":false", page, StringComparison.Ordinal);
        using var bundle = await service.Client.GetAsync("/scalar/scalar.js");
        Assert.Equal(HttpStatusCode.OK, bundle.StatusCode); // served by the gateway itself, not a CDN
    }
}
