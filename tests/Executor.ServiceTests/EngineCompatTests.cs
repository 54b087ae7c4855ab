using System.Net.Http.Json;
using System.Text.Json;

namespace Executor.ServiceTests;

/// <summary>The Engine's own clients' expectations of the problems (its "error" member beside type, title and detail).</summary>
public sealed class EngineCompatTests(SessionServiceFixture service) : IClassFixture<SessionServiceFixture>
{

    [Fact]
    public async Task The_engine_s_error_member_is_in_its_problems()
    {
        using var form = new MultipartFormDataContent { { new StringContent("x"), "not_file" } };
        using var missing = await service.Client.PostAsync("/execute", form);
        using var notPython = await service.Client.UploadAsync("print(1)\n", "script.txt");
        using var unknown = await service.Client.GetAsync("/result/0123456789abcdef0123456789abcdef");

        var (a, b, c) = (await Problem(missing, 400), await Problem(notPython, 400), await Problem(unknown, 404));
        Assert.Equal("No file provided", a.GetProperty("error").GetString());
        Assert.Contains("must be a .py file", b.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal("Session not found", c.GetProperty("error").GetString());
        Assert.Equal("urn:executor:problem:session-not-found", c.GetProperty("type").GetString()); // beside type, title, detail
        Assert.True(c.TryGetProperty("detail", out _));
    }

    private static async Task<JsonElement> Problem(HttpResponseMessage response, int status)
    {
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }
}
