using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

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
        await CollectLogsAsync(Logs, "gateway", "session", "runner", "prewarm");
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
        return await admin.CreateKeyAsync(name, quotas, role);
    }
}

[CollectionDefinition(Name)]
public sealed class KeyedCollection : ICollectionFixture<KeyedStackFixture>
{
    public const string Name = "7 keys";
}

/// <summary>
/// Who may run code, where it takes real runs: a key on the WebSocket, ownership of a run's files and attachment, fair
/// turns under a flood, no key in any service's log. The rules themselves (keys, roles, quotas, ownership) are proven in
/// process (Executor.ServiceTests' AccessTests).
/// </summary>
[Collection(KeyedCollection.Name)]
public sealed class AccessTests(KeyedStackFixture stack)
{
    private const string Hello = "print('hello')\n";

    [Fact]
    public async Task A_sandbox_is_its_keys_alone_and_a_key_has_at_most_its_quota_of_sandboxes_alive()
    {
        var (_, alice) = await stack.CreateKeyAsync("sandbox-alice", new { max_sandboxes = 1 });
        var (_, bob) = await stack.CreateKeyAsync("sandbox-bob");
        using var asAlice = stack.With(alice);
        using var asBob = stack.With(bob);
        var id = (await asAlice.CreateSandboxAsync()).GetProperty("sandbox_id").GetString()!;
        try
        {
            await asAlice.CallAsync(id, "secret = 'alice'");
            foreach (var response in new[]
            {
                await asBob.GetAsync($"/sandboxes/{id}"),
                await asBob.PostAsJsonAsync($"/sandboxes/{id}/run", new { code = "secret" }),
                await asBob.GetAsync($"/sandboxes/{id}/files"),
                await asBob.DeleteAsync($"/sandboxes/{id}"),
            })
            {
                using (response)
                {
                    Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
                }
            }
            using (var second = await asAlice.PostAsJsonAsync("/sandboxes", new { }))
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
            }
            Assert.Equal("'alice'", (await asAlice.CallAsync(id, "secret")).GetProperty("results")[0].GetProperty("text/plain").GetString());
        }
        finally
        {
            await asAlice.DeleteAsync($"/sandboxes/{id}");
        }
        var again = await asAlice.CreateSandboxAsync();
        await asAlice.DeleteAsync($"/sandboxes/{again.GetProperty("sandbox_id").GetString()}");
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
}

/// <summary>
/// The open mode's refusal of a page of another site, on a real WebSocket to a real run. The open mode's other rules
/// (other sites, rebound names, proxies, addresses that are not loopback) are proven in process (Executor.ServiceTests'
/// OpenModeAccessTests).
/// </summary>
[Collection(StackCollection.Name)]
public sealed class OpenModeAccessTests(StackFixture stack)
{
    private string Origin => stack.Gateway.BaseAddress!.GetLeftPart(UriPartial.Authority);

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
}
