using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Executor.ServiceTests;

/// <summary>stdin_mode's refusals; the interactive runs themselves are proven end to end.</summary>
public sealed class InteractiveTests(SessionServiceFixture service) : IClassFixture<SessionServiceFixture>
{
    [Fact]
    public async Task A_plain_request_to_attach_is_a_problem_and_a_bad_stdin_mode_is_refused()
    {
        var sessionId = await service.Client.SubmitAsync("print(1)\n");
        using var plain = await service.Client.GetAsync($"/result/{sessionId}/attach");
        using var form = new MultipartFormDataContent();
        form.AddFile("main.py", "print(1)\n");
        form.Add(new StringContent("sometimes"), "stdin_mode");
        using var bad = await service.Client.PostAsync("/execute", form);

        Assert.Equal(HttpStatusCode.BadRequest, plain.StatusCode);
        Assert.EndsWith("websocket-required", (await plain.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.EndsWith("bad-stdin-mode", (await bad.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString(), StringComparison.Ordinal);
    }
}
