using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Executor.ServiceTests;

/// <summary>A session's files and events when there are none; the files a real run hands back are proven end to end.</summary>
public sealed class FilesTests(SessionServiceFixture service) : IClassFixture<SessionServiceFixture>
{
    [Fact]
    public async Task A_run_that_writes_nothing_to_out_has_an_empty_list_and_a_missing_file_is_a_problem()
    {
        var result = await service.Client.RunAsync("print('nothing to hand back')\n");

        Assert.Equal(0, result.GetProperty("files").GetArrayLength());
        Assert.Equal(0, result.GetProperty("dropped_files").GetArrayLength());
        using var response = await service.Client.GetAsync($"/result/{result.GetProperty("session_id").GetString()}/files/plot.png");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("file-not-found", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_session_has_no_events()
    {
        using var response = await service.Client.GetAsync("/result/0123456789abcdef0123456789abcdef/events");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}
