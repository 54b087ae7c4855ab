using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Executor.ServiceTests;

public sealed class WaitModeTests : IClassFixture<SessionServiceFixture>
{
    private readonly SessionServiceFixture _service;

    public WaitModeTests(SessionServiceFixture service)
    {
        _service = service;
        _service.Host.Respond = Runs.Echo; // each test says how its runs end
    }

    private static MultipartFormDataContent Script(string script)
    {
        var form = new MultipartFormDataContent();
        form.AddFile("main.py", script);
        return form;
    }

    [Fact]
    public async Task Execute_with_wait_answers_with_the_whole_result()
    {
        using var form = Script("print('Hello from Python')\n");
        using var response = await _service.Client.PostAsync("/execute?wait=true", form);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var result = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("completed", result.GetProperty("status").GetString());
        Assert.Equal("Hello from Python\n", result.GetProperty("logs").GetString());
        Assert.Matches("^[0-9a-f]{32}$", result.GetProperty("session_id").GetString());
    }

    [Fact]
    public async Task A_run_longer_than_the_wait_answers_202_and_can_be_long_polled()
    {
        _service.Host.Respond = _ => null; // the run goes on until the test ends it
        using var form = Script("import time\ntime.sleep(3)\nprint('late')\n");
        using var response = await _service.Client.PostAsync("/execute?wait_seconds=1", form);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var pending = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("still running", pending.GetProperty("status").GetString());
        var sessionId = pending.GetProperty("session_id").GetString()!;

        var poll = _service.Client.GetAsync($"/result/{sessionId}?wait_seconds=30");
        await Task.Delay(500);
        Assert.False(poll.IsCompleted, "the long poll answered before the run ended");
        await _service.Host.CompleteAsync(sessionId, Runs.Completed("late\n"));
        using var polled = await poll;
        Assert.Equal(HttpStatusCode.OK, polled.StatusCode);
        Assert.Equal("late\n", (await polled.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("logs").GetString());
    }

    [Fact]
    public async Task Without_wait_parameters_execute_answers_at_once_with_only_the_session_id()
    {
        _service.Host.Respond = _ => null;
        using var form = Script("import time\ntime.sleep(2)\n");
        using var response = await _service.Client.PostAsync("/execute", form);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(["session_id"], body.EnumerateObject().Select(p => p.Name));
        var sessionId = body.GetProperty("session_id").GetString()!;
        await _service.Host.CompleteAsync(sessionId, Runs.Completed(""));
        await _service.Client.WaitForResultAsync(sessionId);
    }

    [Theory]
    [InlineData("/execute?wait_seconds=999")]
    [InlineData("/execute?wait_seconds=-1")]
    public async Task A_wait_outside_the_allowed_range_is_a_400(string path)
    {
        using var form = Script("print(1)\n");
        using var response = await _service.Client.PostAsync(path, form);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("urn:executor:problem:bad-wait", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString());
    }
}
