using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Executor.ServiceTests;

/// <summary>
/// Who may run code: keys, roles, quotas, rate limits and ownership, through the gateway and SessionService in memory.
/// Runs whose script sleeps are held by the runner host until the test ends them.
/// </summary>
public sealed class AccessTests : IClassFixture<KeyedServiceFixture>
{
    private const string Hello = "print('hello')\n";

    private readonly KeyedServiceFixture _service;

    public AccessTests(KeyedServiceFixture service)
    {
        _service = service;
        _service.Host.Respond = job => Runs.Script(job).Contains("time.sleep", StringComparison.Ordinal) ? null : Runs.Echo(job);
    }

    [Fact]
    public async Task Without_a_key_every_route_answers_401_with_a_bearer_challenge_but_health_and_docs_do_not()
    {
        using var anonymous = _service.With(null);

        using var execute = await anonymous.UploadAsync(Hello);
        Assert.Equal(HttpStatusCode.Unauthorized, execute.StatusCode);
        Assert.Equal("Bearer", execute.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal("application/problem+json", execute.Content.Headers.ContentType?.MediaType);
        Assert.Equal("urn:executor:problem:unauthorized", (await execute.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString());
        foreach (var path in new[] { "/result/0123456789abcdef0123456789abcdef", "/admin/keys" })
        {
            using var response = await anonymous.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }
        using var wrong = _service.With("exk_000000000000_not-a-real-secret");
        using (var refused = await wrong.UploadAsync(Hello))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }
        using (var health = await anonymous.GetAsync("/health"))
        {
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        }
        var document = await anonymous.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        Assert.True(document.GetProperty("components").GetProperty("securitySchemes").TryGetProperty("bearer", out _));
    }

    [Fact]
    public async Task The_compatible_surfaces_take_the_same_keys_and_keep_submissions_to_their_owner()
    {
        using var anonymous = _service.With(null);
        using (var piston = await anonymous.PostAsync("/api/v2/execute", new StringContent("{\"language\":\"python\",\"version\":\"*\",\"files\":[{\"content\":\"print(1)\"}]}")))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, piston.StatusCode);
        }
        using (var judge0 = await anonymous.PostAsJsonAsync("/submissions", new { source_code = "print(1)", language_id = 71 }))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, judge0.StatusCode);
        }
        var (_, alice) = await _service.CreateKeyAsync("alice-compat");
        var (_, bob) = await _service.CreateKeyAsync("bob-compat");
        using var aliceClient = _service.With(alice);
        using var bobClient = _service.With(bob);
        using var created = await aliceClient.PostAsJsonAsync("/submissions?wait=true", new { source_code = "print('alice')", language_id = 71 });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var token = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString();

        using var mine = await aliceClient.GetAsync($"/submissions/{token}");
        using var theirs = await bobClient.GetAsync($"/submissions/{token}");

        Assert.Equal(HttpStatusCode.OK, mine.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, theirs.StatusCode);

        // The MCP server is behind the same keys.
        using (var mcp = await anonymous.PostAsync("/mcp", new StringContent("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}",
            System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, mcp.StatusCode);
        }
    }

    [Fact]
    public async Task A_key_runs_code_in_all_three_headers_and_a_revoked_key_is_refused_within_5_s()
    {
        var (id, key) = await _service.CreateKeyAsync("revocable");
        foreach (var header in new[] { "Authorization", "X-API-Key", "X-Auth-Token" })
        {
            using var client = _service.With(null);
            client.DefaultRequestHeaders.Add(header, header == "Authorization" ? $"Bearer {key}" : key);
            Assert.Equal("hello\n", (await client.RunAsync(Hello)).GetProperty("logs").GetString());
        }

        using var admin = _service.With(SessionServiceFixture.OperatorKey);
        var listed = await admin.GetFromJsonAsync<JsonElement>("/admin/keys");
        var entry = listed.EnumerateArray().Single(k => k.GetProperty("id").GetString() == id);
        Assert.False(entry.TryGetProperty("key", out _));
        Assert.DoesNotContain(key[(key.IndexOf('_', "exk_".Length) + 1)..], listed.GetRawText(), StringComparison.Ordinal);
        using (var revoke = await admin.DeleteAsync($"/admin/keys/{id}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        }

        var revoked = Stopwatch.StartNew();
        using var user = _service.With(key);
        await ExecutorApi.WaitUntilAsync(async () =>
        {
            using var response = await user.UploadAsync(Hello);
            return response.StatusCode == HttpStatusCode.Unauthorized;
        }, "the revoked key is refused");
        Assert.True(revoked.Elapsed < TimeSpan.FromSeconds(5), $"refused only after {revoked.Elapsed}");
        Assert.NotNull((await admin.GetFromJsonAsync<JsonElement>("/admin/keys")).EnumerateArray()
            .Single(k => k.GetProperty("id").GetString() == id).GetProperty("revoked_at").GetString());
    }

    [Fact]
    public async Task One_user_cannot_read_clean_up_or_wait_on_another_users_session_and_an_operator_can()
    {
        var (_, alice) = await _service.CreateKeyAsync("alice");
        var (_, bob) = await _service.CreateKeyAsync("bob");
        using var asAlice = _service.With(alice);
        using var asBob = _service.With(bob);
        var finished = await asAlice.SubmitAsync(Hello);
        await asAlice.WaitForResultAsync(finished);
        var running = await asAlice.SubmitAsync("import time\ntime.sleep(30)\n");

        foreach (var request in new Func<Task<HttpResponseMessage>>[]
        {
            () => asBob.GetAsync($"/result/{finished}"),
            () => asBob.GetAsync($"/result/{running}?wait_seconds=5"),
            () => asBob.PostAsync($"/cleanup/{running}", null),
        })
        {
            using var response = await request();
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("urn:executor:problem:session-not-found", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString());
        }

        using var asOperator = _service.With(SessionServiceFixture.OperatorKey);
        Assert.Equal("hello\n", (await asOperator.GetFromJsonAsync<JsonElement>($"/result/{finished}")).GetProperty("logs").GetString());
        using var cleanup = await asAlice.PostAsync($"/cleanup/{running}", null);
        Assert.Equal(HttpStatusCode.OK, cleanup.StatusCode);
    }

    [Fact]
    public async Task A_user_key_may_prewarm_but_not_resize_the_pools_nor_use_admin_routes()
    {
        var (_, key) = await _service.CreateKeyAsync("plain user");
        using var user = _service.With(key);

        using (var refill = await user.PostAsync("/prewarm", null))
        {
            Assert.Equal(HttpStatusCode.OK, refill.StatusCode);
            Assert.Equal("prewarm triggered", (await refill.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetString());
        }
        using (var resize = await user.PostAsync("/prewarm?count=8", null))
        {
            Assert.Equal(HttpStatusCode.Forbidden, resize.StatusCode);
        }
        foreach (var path in new[] { "/admin/keys", "/admin/hosts" })
        {
            using var response = await user.GetAsync(path);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }
        using var operatorClient = _service.With(SessionServiceFixture.OperatorKey);
        using var resized = await operatorClient.PostAsync($"/prewarm?count={FakeRunnerHost.PoolTarget}", null);
        Assert.Equal(HttpStatusCode.OK, resized.StatusCode);
    }

    [Fact]
    public async Task The_concurrency_quota_gives_429_with_Retry_After_and_recovers()
    {
        var (_, key) = await _service.CreateKeyAsync("one at a time", new { max_concurrent_runs = 1, max_queued = 0 });
        using var user = _service.With(key);
        var first = await user.SubmitAsync("import time\ntime.sleep(3)\n");

        using (var refused = await user.UploadAsync(Hello))
        {
            await AssertQuotaAsync(refused, "quota-concurrent-runs");
        }
        await _service.Host.CompleteAsync(first, Runs.Completed(""));
        await user.WaitForResultAsync(first);
        Assert.Equal("hello\n", (await user.RunAsync(Hello)).GetProperty("logs").GetString());
    }

    [Fact]
    public async Task The_queue_quota_gives_429_and_sessions_past_the_concurrency_wait_their_turn()
    {
        var (_, key) = await _service.CreateKeyAsync("small queue", new { max_concurrent_runs = 1, max_queued = 1 });
        using var user = _service.With(key);
        var running = await user.SubmitAsync("import time\ntime.sleep(3)\nprint('first')\n");
        var waiting = await user.SubmitAsync("print('second')\n");

        using (var refused = await user.UploadAsync(Hello))
        {
            await AssertQuotaAsync(refused, "quota-queued");
        }
        await _service.Host.CompleteAsync(running, Runs.Completed("first\n"));
        var second = await user.WaitForResultAsync(waiting);
        var first = await user.WaitForResultAsync(running);
        // The second waited for the first: the concurrency quota held it in the queue.
        Assert.True(second.GetProperty("started_at").GetDateTimeOffset() >= first.GetProperty("finished_at").GetDateTimeOffset().AddMilliseconds(-50));
    }

    [Fact]
    public async Task The_runs_per_minute_quota_gives_429_and_recovers_after_the_window()
    {
        var (_, key) = await _service.CreateKeyAsync("two a window", new { runs_per_minute = 2 });
        using var user = _service.With(key);
        await user.RunAsync(Hello);
        await user.RunAsync(Hello);

        using (var refused = await user.UploadAsync(Hello))
        {
            await AssertQuotaAsync(refused, "quota-runs-per-minute");
        }
        await ExecutorApi.WaitUntilAsync(async () =>
        {
            using var again = await user.UploadAsync(Hello);
            return again.StatusCode == HttpStatusCode.OK;
        }, "the window passes");
    }

    [Fact]
    public async Task A_Judge0_batch_takes_one_run_per_submission_from_runs_per_minute()
    {
        var (_, key) = await _service.CreateKeyAsync("five a window", new { runs_per_minute = 5 });
        using var user = _service.With(key);
        var submissions = Enumerable.Range(0, 8).Select(i => new { source_code = $"print({i})", language_id = 71 }).ToArray();

        using var batch = await user.PostAsJsonAsync("/submissions/batch", new { submissions });

        Assert.Equal(HttpStatusCode.Created, batch.StatusCode);
        var answers = (await batch.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray().ToList();
        Assert.Equal(5, answers.Count(a => a.TryGetProperty("token", out _)));
        Assert.All(answers.Skip(5), a => Assert.Contains("runs per", a.GetProperty("error").GetString(), StringComparison.Ordinal));
        using var refused = await user.UploadAsync(Hello); // the batch used the window up, whichever surface comes next
        await AssertQuotaAsync(refused, "quota-runs-per-minute");
    }

    [Fact]
    public async Task A_runtime_whose_default_memory_is_above_a_keys_ceiling_runs_within_the_ceiling()
    {
        // The data runtime gives 384 MiB by default; this key may use 256 at most.
        var (_, key) = await _service.CreateKeyAsync("small data", new { max_memory_mb = 256 });
        using var user = _service.With(key);

        var result = await user.RunAsync("print('within')\n", ("runtime", "python-3.11-data"));

        Assert.Equal(("completed", 256), (result.GetProperty("status").GetString(), result.GetProperty("limits").GetProperty("memory_mb").GetInt32()));
        using var form = new MultipartFormDataContent();
        form.AddFile("main.py", Hello);
        form.Add(new StringContent("python-3.11-data"), "runtime");
        form.Add(new StringContent("384"), "memory_mb");
        using var explicitly = await user.PostAsync("/execute", form); // asked for by name, the runtime's default is still refused
        Assert.Equal(HttpStatusCode.BadRequest, explicitly.StatusCode);
        Assert.Contains("ceiling of 256 MiB", (await explicitly.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_over_its_storage_bound_gets_429_and_another_key_does_not()
    {
        var (_, key) = await _service.CreateKeyAsync("hoarder", new { max_stored_mb = 1 });
        using var user = _service.With(key);
        using var form = new MultipartFormDataContent();
        form.AddFile("main.py", Hello);
        form.AddFile("data.bin", new byte[700 * 1024]);
        await user.WaitForResultAsync(await user.SubmitFormAsync(form));

        using var again = new MultipartFormDataContent();
        again.AddFile("main.py", Hello);
        again.AddFile("data.bin", new byte[700 * 1024]);
        using var refused = await user.PostAsync("/execute", again);

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("urn:executor:problem:quota-storage", problem.GetProperty("type").GetString());
        Assert.Contains("1 MiB", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        var (_, other) = await _service.CreateKeyAsync("neighbour", new { max_stored_mb = 1 });
        using var neighbour = _service.With(other);
        Assert.Equal("hello\n", (await neighbour.RunAsync(Hello)).GetProperty("logs").GetString());
    }

    [Fact]
    public async Task Asking_past_a_keys_ceiling_is_a_400_that_names_the_ceiling()
    {
        var (_, key) = await _service.CreateKeyAsync("small", new { max_timeout_seconds = 5, max_memory_mb = 64 });
        using var user = _service.With(key);

        using var form = new MultipartFormDataContent();
        form.AddFile("main.py", Hello);
        form.Add(new StringContent("10"), "timeout_seconds");
        using var tooLong = await user.PostAsync("/execute", form);

        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        var problem = await tooLong.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("urn:executor:problem:bad-limit", problem.GetProperty("type").GetString());
        Assert.Contains("ceiling of 5 seconds", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal("completed", (await user.RunAsync(Hello, ("timeout_seconds", "5"))).GetProperty("status").GetString());
    }

    private static async Task AssertQuotaAsync(HttpResponseMessage response, string type)
    {
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Equal($"urn:executor:problem:{type}", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString());
    }
}
