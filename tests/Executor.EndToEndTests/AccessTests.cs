using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;

namespace Executor.EndToEndTests;

/// <summary>A stack whose callers must present API keys: an operator key is configured, so the mode is "required".</summary>
public sealed class KeyedStackFixture : StackFixture
{
    public override string Deployment => "tests-keys";

    protected override bool RequireKeys => true;

    // A short rate window, so that a test sees runs_per_minute refuse and recover.
    protected override IEnumerable<string> ExtraArguments => ["--Executor:AuthRateWindowSeconds=6"];

    protected override int DataPoolSize => 0;

    /// <summary>Every line the services wrote, collected from the start: the tests look for key material in them.</summary>
    public List<string> Logs { get; } = [];

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        var logs = App.Services.GetRequiredService<ResourceLoggerService>();
        foreach (var name in new[] { "gateway", "session", "runner", "prewarm" })
        {
            // Logs are kept by the resource's id (the name plus a suffix), which its notifications carry.
            var resource = (await App.ResourceNotifications.WaitForResourceAsync(name, _ => true)).ResourceId;
            _ = Task.Run(async () =>
            {
                await foreach (var batch in logs.WatchAsync(resource))
                {
                    lock (Logs)
                    {
                        Logs.AddRange(batch.Select(line => line.Content));
                    }
                }
            });
        }
    }

    /// <summary>A client of the gateway presenting the key.</summary>
    public HttpClient With(string? key)
    {
        var client = new HttpClient { BaseAddress = Gateway.BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
        return client;
    }

    public async Task<(string Id, string Key)> CreateKeyAsync(string name, object? quotas = null, string role = "user")
    {
        using var admin = With(OperatorKey);
        var request = JsonSerializer.SerializeToNode(quotas ?? new { })!.AsObject();
        request["name"] = name;
        request["role"] = role;
        using var response = await admin.PostAsJsonAsync("/admin/keys", request);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (created.GetProperty("id").GetString()!, created.GetProperty("key").GetString()!);
    }
}

[CollectionDefinition(Name)]
public sealed class KeyedCollection : ICollectionFixture<KeyedStackFixture>
{
    public const string Name = "7 keys";
}

/// <summary>Who may run code: keys, roles, quotas, rate limits and ownership, through the real gateway and services.</summary>
[Collection(KeyedCollection.Name)]
public sealed class AccessTests(KeyedStackFixture stack)
{
    private const string Hello = "print('hello')\n";

    [Fact]
    public async Task Without_a_key_every_route_answers_401_with_a_bearer_challenge_but_health_and_docs_do_not()
    {
        using var anonymous = stack.With(null);

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
        using var wrong = stack.With("exk_000000000000_not-a-real-secret");
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
        using var anonymous = stack.With(null);
        using (var piston = await anonymous.PostAsync("/api/v2/execute", new StringContent("{\"language\":\"python\",\"version\":\"*\",\"files\":[{\"content\":\"print(1)\"}]}")))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, piston.StatusCode);
        }
        using (var judge0 = await anonymous.PostAsJsonAsync("/submissions", new { source_code = "print(1)", language_id = 71 }))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, judge0.StatusCode);
        }
        var (_, alice) = await stack.CreateKeyAsync("alice-compat");
        var (_, bob) = await stack.CreateKeyAsync("bob-compat");
        using var aliceClient = stack.With(alice);
        using var bobClient = stack.With(bob);
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
    public async Task A_browser_presents_its_key_on_the_websocket_as_a_subprotocol()
    {
        var (_, key) = await stack.CreateKeyAsync("browser");
        using var user = stack.With(key);
        var sessionId = await user.SubmitAsync("print(input().upper())\n", ("stdin_mode", "interactive"));
        var uri = new UriBuilder(new Uri(stack.Gateway.BaseAddress!, $"/result/{sessionId}/attach")) { Scheme = "ws" }.Uri;

        using var refused = new System.Net.WebSockets.ClientWebSocket();
        refused.Options.AddSubProtocol("executor");
        await Assert.ThrowsAsync<System.Net.WebSockets.WebSocketException>(() => refused.ConnectAsync(uri, CancellationToken.None));

        using var socket = new System.Net.WebSockets.ClientWebSocket();
        socket.Options.AddSubProtocol("executor");
        socket.Options.AddSubProtocol($"executor.key.{key}");
        await socket.ConnectAsync(uri, CancellationToken.None);
        Assert.Equal("executor", socket.SubProtocol);
        await socket.SendAsync("shout\n"u8.ToArray(), System.Net.WebSockets.WebSocketMessageType.Text, true, CancellationToken.None);
        var result = await user.WaitForResultAsync(sessionId);
        Assert.Equal("SHOUT\n", result.GetProperty("stdout").GetString());
    }

    [Fact]
    public async Task A_key_runs_code_in_all_three_headers_and_a_revoked_key_is_refused_within_5_s()
    {
        var (id, key) = await stack.CreateKeyAsync("revocable");
        foreach (var header in new[] { "Authorization", "X-API-Key", "X-Auth-Token" })
        {
            using var client = stack.With(null);
            client.DefaultRequestHeaders.Add(header, header == "Authorization" ? $"Bearer {key}" : key);
            Assert.Equal("hello\n", (await client.RunAsync(Hello)).GetProperty("logs").GetString());
        }

        using var admin = stack.With(KeyedStackFixture.OperatorKey);
        var listed = await admin.GetFromJsonAsync<JsonElement>("/admin/keys");
        var entry = listed.EnumerateArray().Single(k => k.GetProperty("id").GetString() == id);
        Assert.False(entry.TryGetProperty("key", out _));
        Assert.DoesNotContain(key[(key.IndexOf('_', "exk_".Length) + 1)..], listed.GetRawText(), StringComparison.Ordinal);
        using (var revoke = await admin.DeleteAsync($"/admin/keys/{id}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        }

        var revoked = Stopwatch.StartNew();
        using var user = stack.With(key);
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
        var (_, alice) = await stack.CreateKeyAsync("alice");
        var (_, bob) = await stack.CreateKeyAsync("bob");
        using var asAlice = stack.With(alice);
        using var asBob = stack.With(bob);
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

        using var asOperator = stack.With(KeyedStackFixture.OperatorKey);
        Assert.Equal("hello\n", (await asOperator.GetFromJsonAsync<JsonElement>($"/result/{finished}")).GetProperty("logs").GetString());
        using var cleanup = await asAlice.PostAsync($"/cleanup/{running}", null);
        Assert.Equal(HttpStatusCode.OK, cleanup.StatusCode);
    }

    [Fact]
    public async Task Another_key_gets_404_for_a_sessions_files_events_callback_and_attachment()
    {
        var (_, alice) = await stack.CreateKeyAsync("alice's files");
        var (_, bob) = await stack.CreateKeyAsync("bob, curious");
        using var asAlice = stack.With(alice);
        using var asBob = stack.With(bob);
        var sessionId = await asAlice.SubmitAsync("open('out/secret.csv', 'w').write('a,b\\n')\n");
        var result = await asAlice.WaitForResultAsync(sessionId);
        var url = Assert.Single(result.GetProperty("files").EnumerateArray()).GetProperty("url").GetString();
        Assert.Equal("a,b\n", await asAlice.GetStringAsync(url));

        foreach (var path in new[] { url, $"/result/{sessionId}/events", $"/result/{sessionId}/callback", $"/result/{sessionId}/attach" })
        {
            using var response = await asBob.GetAsync(path);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("urn:executor:problem:session-not-found", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString());
        }
        var upgrade = await Assert.ThrowsAsync<System.Net.WebSockets.WebSocketException>(() => Attachment.ConnectAsync(asBob, sessionId, bob));
        Assert.Contains("404", upgrade.Message, StringComparison.Ordinal);
        using var anonymous = stack.With(null);
        using var unauthenticated = await anonymous.GetAsync(url);
        Assert.Equal(HttpStatusCode.Unauthorized, unauthenticated.StatusCode);
    }

    [Fact]
    public async Task A_user_key_may_prewarm_but_not_resize_the_pools_nor_use_admin_routes()
    {
        var (_, key) = await stack.CreateKeyAsync("plain user");
        using var user = stack.With(key);

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
        using var operatorClient = stack.With(KeyedStackFixture.OperatorKey);
        using var resized = await operatorClient.PostAsync($"/prewarm?count={StackFixture.PoolSize}", null);
        Assert.Equal(HttpStatusCode.OK, resized.StatusCode);
    }

    [Fact]
    public async Task The_concurrency_quota_gives_429_with_Retry_After_and_recovers()
    {
        var (_, key) = await stack.CreateKeyAsync("one at a time", new { max_concurrent_runs = 1, max_queued = 0 });
        using var user = stack.With(key);
        var first = await user.SubmitAsync("import time\ntime.sleep(3)\n");

        using (var refused = await user.UploadAsync(Hello))
        {
            await AssertQuotaAsync(refused, "quota-concurrent-runs");
        }
        await user.WaitForResultAsync(first);
        Assert.Equal("hello\n", (await user.RunAsync(Hello)).GetProperty("logs").GetString());
    }

    [Fact]
    public async Task The_queue_quota_gives_429_and_sessions_past_the_concurrency_wait_their_turn()
    {
        var (_, key) = await stack.CreateKeyAsync("small queue", new { max_concurrent_runs = 1, max_queued = 1 });
        using var user = stack.With(key);
        var running = await user.SubmitAsync("import time\ntime.sleep(3)\nprint('first')\n");
        var waiting = await user.SubmitAsync("print('second')\n");

        using (var refused = await user.UploadAsync(Hello))
        {
            await AssertQuotaAsync(refused, "quota-queued");
        }
        var second = await user.WaitForResultAsync(waiting);
        var first = await user.WaitForResultAsync(running);
        // The second waited for the first: the concurrency quota held it in the queue.
        Assert.True(second.GetProperty("started_at").GetDateTimeOffset() >= first.GetProperty("finished_at").GetDateTimeOffset().AddMilliseconds(-50));
    }

    [Fact]
    public async Task The_runs_per_minute_quota_gives_429_and_recovers_after_the_window()
    {
        var (_, key) = await stack.CreateKeyAsync("two a window", new { runs_per_minute = 2 });
        using var user = stack.With(key);
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
        var (_, key) = await stack.CreateKeyAsync("five a window", new { runs_per_minute = 5 });
        using var user = stack.With(key);
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
        var (_, key) = await stack.CreateKeyAsync("small data", new { max_memory_mb = 256 });
        using var user = stack.With(key);

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
        var (_, key) = await stack.CreateKeyAsync("hoarder", new { max_stored_mb = 1 });
        using var user = stack.With(key);
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
        var (_, other) = await stack.CreateKeyAsync("neighbour", new { max_stored_mb = 1 });
        using var neighbour = stack.With(other);
        Assert.Equal("hello\n", (await neighbour.RunAsync(Hello)).GetProperty("logs").GetString());
    }

    [Fact]
    public async Task Asking_past_a_keys_ceiling_is_a_400_that_names_the_ceiling()
    {
        var (_, key) = await stack.CreateKeyAsync("small", new { max_timeout_seconds = 5, max_memory_mb = 64 });
        using var user = stack.With(key);

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

    [Fact]
    public async Task A_caller_flooding_the_queue_does_not_starve_another()
    {
        var (_, flood) = await stack.CreateKeyAsync("flood", new { max_concurrent_runs = 100, max_queued = 200 });
        var (_, other) = await stack.CreateKeyAsync("other");
        using var flooding = stack.With(flood);
        using var polite = stack.With(other);
        var flooded = await Task.WhenAll(Enumerable.Range(0, 30).Select(_ => flooding.SubmitAsync("import time\ntime.sleep(1)\n")));

        var mine = await polite.SubmitAsync(Hello);
        var result = await polite.WaitForResultAsync(mine);
        var floodResults = await Task.WhenAll(flooded.Select(flooding.WaitForResultAsync));

        Assert.Equal("completed", result.GetProperty("status").GetString());
        // Served in turn: most of the 30 sessions queued before it started after it (first come, first served would
        // have started every one of them first).
        var started = result.GetProperty("started_at").GetDateTimeOffset();
        var after = floodResults.Count(r => r.GetProperty("started_at").GetDateTimeOffset() > started);
        Assert.True(after >= 20, $"only {after} of the 30 earlier sessions started after the other caller's ({started:O}): "
            + string.Join(", ", floodResults.Select(r => r.GetProperty("started_at").GetDateTimeOffset().ToString("ss.fff", System.Globalization.CultureInfo.InvariantCulture))));
    }

    [Fact]
    public async Task No_key_material_reaches_the_logs()
    {
        var (_, key) = await stack.CreateKeyAsync("logged?");
        using var user = stack.With(key);
        await user.RunAsync(Hello);
        using (var wrong = stack.With(key + "x"))
        {
            using var refused = await wrong.UploadAsync(Hello);
        }
        await Task.Delay(2000); // the log lines travel through the orchestrator

        string[] lines;
        lock (stack.Logs)
        {
            lines = [.. stack.Logs];
        }
        Assert.Contains(lines, l => l.Contains("Execution accepted: caller", StringComparison.Ordinal)); // the audit line is there
        var secret = key[(key.IndexOf('_', "exk_".Length) + 1)..]; // exk_<id>_<secret>; the secret may hold '_' itself
        Assert.DoesNotContain(lines, l => l.Contains(secret[..16], StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains(KeyedStackFixture.OperatorKey, StringComparison.Ordinal));
    }

    private static async Task AssertQuotaAsync(HttpResponseMessage response, string type)
    {
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Equal($"urn:executor:problem:{type}", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString());
    }
}

/// <summary>The open mode (a bare ./run.sh): anonymous callers are let in from loopback only.</summary>
[Collection(StackCollection.Name)]
public sealed class OpenModeTests(StackFixture stack)
{
    [Fact]
    public async Task The_open_mode_refuses_an_anonymous_caller_from_an_address_that_is_not_loopback()
    {
        // A second address on this machine, made for the test: not loopback, yet reachable without leaving it.
        const string Address = "10.213.77.2";
        await Shell.RunAsync($"ip addr add {Address}/32 dev lo");
        try
        {
            using var remote = new HttpClient(new SocketsHttpHandler
            {
                ConnectCallback = async (context, cancellationToken) =>
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    socket.Bind(new IPEndPoint(IPAddress.Parse(Address), 0));
                    await socket.ConnectAsync(IPAddress.Parse(Address), context.DnsEndPoint.Port, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                },
            })
            { BaseAddress = stack.Gateway.BaseAddress };

            using var refused = await remote.UploadAsync("print(1)\n");
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            using var local = await stack.Gateway.UploadAsync("print(1)\n");
            Assert.Equal(HttpStatusCode.OK, local.StatusCode);
        }
        finally
        {
            await Shell.RunAsync($"ip addr del {Address}/32 dev lo");
        }
    }
}

/// <summary>
/// The open mode (no key configured) lets in callers on this machine only: not a page of another site in this machine's
/// browser, not a DNS name rebound to loopback, not a caller behind a tunnel or proxy that connects from loopback. What a
/// browser, a rebinding page or a proxy sends is sent here as they would send it; the ordinary local calls keep working.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class OpenModeAccessTests(StackFixture stack)
{
    private const string Hello = "print('hello')\n";

    private string Origin => stack.Gateway.BaseAddress!.GetLeftPart(UriPartial.Authority);

    [Fact]
    public async Task A_page_of_another_site_cannot_run_code_but_the_playground_origin_and_curl_can()
    {
        await AssertRefusedAsync(Execute(("Origin", "http://evil.example"), ("Sec-Fetch-Site", "cross-site")), HttpStatusCode.Forbidden, "cross-site-request");
        await AssertRefusedAsync(Execute(("Origin", "http://evil.example")), HttpStatusCode.Forbidden, "cross-site-request");
        await AssertRefusedAsync(Execute(("Sec-Fetch-Site", "same-site")), HttpStatusCode.Forbidden, "cross-site-request");
        await AssertRefusedAsync(Execute(("Origin", "null")), HttpStatusCode.Forbidden, "cross-site-request");
        using (var cleanup = new HttpRequestMessage(HttpMethod.Post, "/cleanup/0123456789abcdef0123456789abcdef"))
        {
            cleanup.Headers.Add("Origin", "http://evil.example");
            await AssertRefusedAsync(cleanup, HttpStatusCode.Forbidden, "cross-site-request");
        }

        await AssertRunsAsync(Execute(("Origin", Origin), ("Sec-Fetch-Site", "same-origin")));
        await AssertRunsAsync(Execute());
    }

    [Fact]
    public async Task A_page_of_another_site_cannot_attach_to_a_session_s_stdin()
    {
        var sessionId = await stack.Gateway.SubmitAsync("print(input().upper())\n", ("stdin_mode", "interactive"));
        var uri = new UriBuilder(new Uri(stack.Gateway.BaseAddress!, $"/result/{sessionId}/attach")) { Scheme = "ws" }.Uri;

        using (var evil = new System.Net.WebSockets.ClientWebSocket())
        {
            evil.Options.SetRequestHeader("Origin", "http://evil.example");
            await Assert.ThrowsAsync<System.Net.WebSockets.WebSocketException>(() => evil.ConnectAsync(uri, CancellationToken.None));
        }

        using var own = new System.Net.WebSockets.ClientWebSocket();
        own.Options.SetRequestHeader("Origin", Origin);
        await own.ConnectAsync(uri, CancellationToken.None);
        await own.SendAsync("shout\n"u8.ToArray(), System.Net.WebSockets.WebSocketMessageType.Text, true, CancellationToken.None);
        Assert.Equal("SHOUT\n", (await stack.Gateway.WaitForResultAsync(sessionId)).GetProperty("stdout").GetString());
    }

    [Fact]
    public async Task A_host_name_that_is_not_this_machine_s_is_refused_as_dns_rebinding()
    {
        await AssertRefusedAsync(Execute(("Host", "rebind.evil.example")), HttpStatusCode.MisdirectedRequest, "host-not-loopback");
        using (var read = new HttpRequestMessage(HttpMethod.Get, "/result/0123456789abcdef0123456789abcdef"))
        {
            read.Headers.Host = "rebind.evil.example";
            await AssertRefusedAsync(read, HttpStatusCode.MisdirectedRequest, "host-not-loopback");
        }

        var port = stack.Gateway.BaseAddress!.Port;
        foreach (var host in new[] { $"localhost:{port}", $"127.0.0.1:{port}", $"playground.localhost:{port}" })
        {
            await AssertRunsAsync(Execute(("Host", host)));
        }
    }

    [Fact]
    public async Task A_request_through_a_tunnel_or_proxy_is_not_taken_for_a_local_one()
    {
        await AssertRefusedAsync(Execute(("X-Forwarded-For", "203.0.113.7")), HttpStatusCode.Forbidden, "proxied-request");
        await AssertRefusedAsync(Execute(("Forwarded", "for=203.0.113.7;proto=https")), HttpStatusCode.Forbidden, "proxied-request");
        await AssertRefusedAsync(Execute(("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "abc.tunnel.example")), HttpStatusCode.Forbidden, "proxied-request");

        // Straight to SessionService, past the gateway: a forwarded address from loopback is not believed to be local either.
        using var direct = await stack.Session.SendAsync(Execute(("X-Forwarded-For", "203.0.113.7")));
        Assert.True(direct.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden, $"SessionService answered {(int)direct.StatusCode}");
    }

    private static HttpRequestMessage Execute(params (string Header, string Value)[] headers)
    {
        var form = new MultipartFormDataContent();
        form.AddFile("main.py", Hello);
        var request = new HttpRequestMessage(HttpMethod.Post, "/execute?wait=true") { Content = form };
        foreach (var (header, value) in headers)
        {
            if (header == "Host")
            {
                request.Headers.Host = value;
            }
            else
            {
                request.Headers.TryAddWithoutValidation(header, value);
            }
        }
        return request;
    }

    private async Task AssertRefusedAsync(HttpRequestMessage request, HttpStatusCode status, string type)
    {
        using (request)
        using (var response = await stack.Gateway.SendAsync(request))
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == status, $"{request.Method} {request.RequestUri} answered {(int)response.StatusCode}: {body}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var problem = JsonDocument.Parse(body).RootElement;
            Assert.Equal("urn:executor:problem:" + type, problem.GetProperty("type").GetString());
            Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("detail").GetString()));
        }
    }

    private async Task AssertRunsAsync(HttpRequestMessage request)
    {
        using (request)
        using (var response = await stack.Gateway.SendAsync(request))
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"answered {(int)response.StatusCode}: {body}");
            Assert.Equal("hello\n", JsonDocument.Parse(body).RootElement.GetProperty("stdout").GetString());
        }
    }
}
