using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Executor.ServiceTests;

/// <summary>
/// What SessionService makes of stateful sandboxes, with a fake host holding them (no kernel runs here: the kernels,
/// their state and their limits are proven end to end): the lifecycle, the commands' routing to the holding host,
/// files, ownership, quotas, problems, and ends (delete, idle) told to the host.
/// </summary>
public sealed class SandboxesTests : IClassFixture<KeyedServiceFixture>
{
    private readonly KeyedServiceFixture _service;

    public SandboxesTests(KeyedServiceFixture service)
    {
        _service = service;
        _service.Host.RespondToCall = job => job.Sandbox!.Code!.Contains("while True", StringComparison.Ordinal) ? null : Runs.EchoCall(job);
    }

    [Fact]
    public async Task A_sandbox_is_created_on_the_host_runs_calls_in_order_and_is_removed_from_the_host_when_deleted()
    {
        using var client = await ClientAsync("lifecycle");
        var sandbox = await CreateAsync(client);
        var id = sandbox.GetProperty("sandbox_id").GetString()!;

        Assert.Equal("running", sandbox.GetProperty("state").GetString());
        Assert.Equal(_service.Host.Name, sandbox.GetProperty("host").GetString());
        Assert.Equal(300, sandbox.GetProperty("idle_timeout_seconds").GetInt32());
        Assert.Equal(3600, sandbox.GetProperty("lifetime_seconds").GetInt32());
        Assert.True(_service.Host.Sandboxes.ContainsKey(id));

        var call = await RunAsync(client, id, "x + 1");
        Assert.Equal("ok", call.GetProperty("status").GetString());
        Assert.Equal("ran\n", call.GetProperty("stdout").GetString());
        Assert.Equal("x + 1", call.GetProperty("results")[0].GetProperty("text/plain").GetString());
        Assert.Equal("stream", call.GetProperty("outputs")[0].GetProperty("output_type").GetString());
        Assert.Equal(1, call.GetProperty("execution_count").GetInt32());
        Assert.Equal(JsonValueKind.Null, call.GetProperty("error").ValueKind);

        var job = await _service.Host.JobAsync(call.GetProperty("call_id").GetString()!);
        Assert.Equal("run", job.Sandbox!.Kind);
        Assert.Equal(30, job.TimeoutSeconds);

        var read = await client.GetFromJsonAsync<JsonElement>($"/sandboxes/{id}");
        Assert.Equal(1, read.GetProperty("executions").GetInt32());
        var listed = await client.GetFromJsonAsync<JsonElement>("/sandboxes");
        Assert.Contains(listed.GetProperty("sandboxes").EnumerateArray(), s => s.GetProperty("sandbox_id").GetString() == id);

        using (var deleted = await client.DeleteAsync($"/sandboxes/{id}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }
        await WaitUntilAsync(() => _service.Host.EndedByService.ContainsKey(id), "the host was told to end the sandbox");
        Assert.False(_service.Host.Sandboxes.ContainsKey(id));
        var ended = await client.GetFromJsonAsync<JsonElement>($"/sandboxes/{id}");
        Assert.Equal("ended", ended.GetProperty("state").GetString());
        Assert.Equal("deleted by its owner", ended.GetProperty("ended_reason").GetString());
        using var late = await client.PostAsJsonAsync($"/sandboxes/{id}/run", new { code = "1" });
        await ProblemAssert.IsProblemAsync(late, HttpStatusCode.Gone, "sandbox-ended");
    }

    [Fact]
    public async Task Files_go_in_come_back_byte_for_byte_are_listed_and_deleted_and_bad_paths_are_problems()
    {
        using var client = await ClientAsync("files");
        var id = (await CreateAsync(client)).GetProperty("sandbox_id").GetString()!;
        byte[] bytes = [0, 1, 2, 255, 10, 13];

        using (var put = await client.PutAsync($"/sandboxes/{id}/files/data/raw.bin", new ByteArrayContent(bytes)))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
            Assert.Equal(6, (await put.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("size").GetInt64());
        }
        Assert.Equal(bytes, await client.GetByteArrayAsync($"/sandboxes/{id}/files/data/raw.bin"));
        var list = await client.GetFromJsonAsync<JsonElement>($"/sandboxes/{id}/files");
        Assert.Equal("data/raw.bin", list.GetProperty("files")[0].GetProperty("path").GetString());
        using (var deleted = await client.DeleteAsync($"/sandboxes/{id}/files/data/raw.bin"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }
        using (var missing = await client.GetAsync($"/sandboxes/{id}/files/data/raw.bin"))
        {
            await ProblemAssert.IsProblemAsync(missing, HttpStatusCode.NotFound, "sandbox-file-not-found");
        }
        using var bad = await client.PutAsync($"/sandboxes/{id}/files/{new string('a', 256)}", new StringContent("x"));
        await ProblemAssert.IsProblemAsync(bad, HttpStatusCode.BadRequest, "bad-sandbox-path");
    }

    [Fact]
    public async Task Another_key_gets_404_for_every_route_of_a_sandbox_and_never_sees_it_listed()
    {
        using var owner = await ClientAsync("owner");
        using var other = await ClientAsync("other");
        var id = (await CreateAsync(owner)).GetProperty("sandbox_id").GetString()!;

        foreach (var (method, path) in new[]
        {
            (HttpMethod.Get, $"/sandboxes/{id}"), (HttpMethod.Delete, $"/sandboxes/{id}"), (HttpMethod.Post, $"/sandboxes/{id}/run"),
            (HttpMethod.Post, $"/sandboxes/{id}/interrupt"), (HttpMethod.Post, $"/sandboxes/{id}/restart"), (HttpMethod.Get, $"/sandboxes/{id}/files"),
            (HttpMethod.Get, $"/sandboxes/{id}/files/a.txt"), (HttpMethod.Put, $"/sandboxes/{id}/files/a.txt"),
        })
        {
            using var request = new HttpRequestMessage(method, path) { Content = method == HttpMethod.Get ? null : JsonContent.Create(new { code = "1" }) };
            using var response = await other.SendAsync(request);
            await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "sandbox-not-found");
        }
        var listed = await other.GetFromJsonAsync<JsonElement>("/sandboxes");
        Assert.DoesNotContain(listed.GetProperty("sandboxes").EnumerateArray(), s => s.GetProperty("sandbox_id").GetString() == id);
        Assert.Equal("running", (await owner.GetFromJsonAsync<JsonElement>($"/sandboxes/{id}")).GetProperty("state").GetString());
    }

    [Fact]
    public async Task A_key_has_at_most_its_sandboxes_alive_and_its_ceiling_of_lifetime_and_bad_requests_are_problems()
    {
        var (_, key) = await _service.CreateKeyAsync("quota", new { max_sandboxes = 1, max_sandbox_lifetime_seconds = 60 });
        using var client = _service.With(key);
        var first = (await CreateAsync(client, new { lifetime_seconds = 60 })).GetProperty("sandbox_id").GetString()!;

        using (var second = await client.PostAsJsonAsync("/sandboxes", new { lifetime_seconds = 30 }))
        {
            await ProblemAssert.IsProblemAsync(second, HttpStatusCode.TooManyRequests, "sandbox-quota");
        }
        using (var deleted = await client.DeleteAsync($"/sandboxes/{first}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }
        using (var tooLong = await client.PostAsJsonAsync("/sandboxes", new { lifetime_seconds = 61 }))
        {
            await ProblemAssert.IsProblemAsync(tooLong, HttpStatusCode.BadRequest, "bad-sandbox-request");
        }
        using (var idleTooLong = await client.PostAsJsonAsync("/sandboxes", new { lifetime_seconds = 30, idle_timeout_seconds = 31 }))
        {
            await ProblemAssert.IsProblemAsync(idleTooLong, HttpStatusCode.BadRequest, "bad-sandbox-request");
        }
        using (var noRuntime = await client.PostAsJsonAsync("/sandboxes", new { runtime = "cobol-85" }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, noRuntime.StatusCode);
        }
        var again = await CreateAsync(client); // the default lifetime is lowered to the key's ceiling
        Assert.Equal(60, again.GetProperty("lifetime_seconds").GetInt32());
        using var noCode = await client.PostAsJsonAsync($"/sandboxes/{again.GetProperty("sandbox_id").GetString()}/run", new { timeout_seconds = 5 });
        await ProblemAssert.IsProblemAsync(noCode, HttpStatusCode.BadRequest, "bad-call");
    }

    [Fact]
    public async Task An_interrupt_ends_the_running_call_interrupted_and_the_next_call_runs()
    {
        using var client = await ClientAsync("interrupt");
        var id = (await CreateAsync(client)).GetProperty("sandbox_id").GetString()!;

        var running = RunAsync(client, id, "while True: pass");
        await WaitUntilAsync(async () => (await client.PostAsync($"/sandboxes/{id}/interrupt", null)).StatusCode == HttpStatusCode.Accepted
            && running.IsCompleted, "the call was interrupted");
        var interrupted = await running;
        Assert.Equal("interrupted", interrupted.GetProperty("status").GetString());
        Assert.Equal("KeyboardInterrupt", interrupted.GetProperty("error").GetProperty("name").GetString());

        Assert.Equal("ok", (await RunAsync(client, id, "1")).GetProperty("status").GetString());
        using var restarted = await client.PostAsync($"/sandboxes/{id}/restart", null);
        Assert.Equal(HttpStatusCode.OK, restarted.StatusCode);
    }

    [Fact]
    public async Task A_call_followed_live_streams_its_output_and_ends_with_its_result()
    {
        using var client = await ClientAsync("live");
        var id = (await CreateAsync(client)).GetProperty("sandbox_id").GetString()!;
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/sandboxes/{id}/run") { Content = JsonContent.Create(new { code = "x" }) };
        request.Headers.Accept.ParseAdd("text/event-stream");

        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.StartsWith("event: call", body, StringComparison.Ordinal);
        var result = body.Split('\n').SkipWhile(l => l != "event: result").Skip(1).First(l => l.StartsWith("data: ", StringComparison.Ordinal));
        Assert.Equal("ok", JsonDocument.Parse(result["data: ".Length..]).RootElement.GetProperty("status").GetString());
    }

    [Fact]
    public async Task An_idle_sandbox_ends_after_its_idle_timeout_and_its_host_is_told()
    {
        using var client = await ClientAsync("idle");
        var id = (await CreateAsync(client, new { idle_timeout_seconds = 1, lifetime_seconds = 60 })).GetProperty("sandbox_id").GetString()!;

        await WaitUntilAsync(() => _service.Host.EndedByService.ContainsKey(id), "the idle sandbox ended on its host");
        var ended = await client.GetFromJsonAsync<JsonElement>($"/sandboxes/{id}");
        Assert.Equal("ended", ended.GetProperty("state").GetString());
        Assert.Equal("it was idle for 1 s", ended.GetProperty("ended_reason").GetString());
    }

    private async Task<HttpClient> ClientAsync(string name)
    {
        var (_, key) = await _service.CreateKeyAsync($"sandboxes-{name}");
        return _service.With(key);
    }

    private static async Task<JsonElement> CreateAsync(HttpClient client, object? body = null)
    {
        using var response = await client.PostAsJsonAsync("/sandboxes", body ?? new { });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, text);
        Assert.StartsWith("/sandboxes/sbx_", response.Headers.Location?.OriginalString, StringComparison.Ordinal);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static async Task<JsonElement> RunAsync(HttpClient client, string id, string code)
    {
        using var response = await client.PostAsJsonAsync($"/sandboxes/{id}/run", new { code });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static Task WaitUntilAsync(Func<bool> condition, string what) => WaitUntilAsync(() => Task.FromResult(condition()), what);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting until {what}");
            await Task.Delay(100);
        }
    }
}
