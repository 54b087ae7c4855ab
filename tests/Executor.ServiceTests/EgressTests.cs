using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Executor.ServiceTests;

/// <summary>The deployment allows a few destinations; keys may have their own lists.</summary>
public sealed class EgressServiceFixture : SessionServiceFixture
{
    protected override bool RequireKeys => true;

    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        // One value, as ./run.sh passes an environment variable: split at commas.
        ["Egress:AllowedHosts"] = "pypi.test.internal, *.data.example:443,127.0.0.1:*",
        ["Egress:MaxBytes"] = "1048576",
        ["Egress:MaxConnections"] = "8",
    };
}

/// <summary>
/// Egress is granted by SessionService for every surface alike, within what the operator allows the key, and travels
/// to the runner host in the job; a run that asks for nothing gets nothing. (The proxy that enforces it, and real
/// traffic, are the end-to-end EgressTests'.)
/// </summary>
public sealed class EgressTests(EgressServiceFixture service) : IClassFixture<EgressServiceFixture>
{
    private static readonly string[] Everything = ["*"];
    private static readonly string[] Index = ["pypi.test.internal"];
    private static readonly string[] Evil = ["evil.example"];
    private static readonly string[] Partner = ["api.partner.example:8443"];
    private static readonly string[] NotAHost = ["not a host"];
    [Fact]
    public async Task A_run_that_asks_for_nothing_gets_no_network_and_its_result_has_no_egress()
    {
        var (_, key) = await service.CreateKeyAsync("plain");
        var client = service.With(key);
        var sessionId = await client.SubmitAsync("print('offline')\n");
        Assert.Null((await service.Host.JobAsync(sessionId)).Egress);
        var result = await client.WaitForResultAsync(sessionId);
        Assert.False(result.TryGetProperty("egress", out _));
    }

    [Fact]
    public async Task Destinations_within_the_allow_list_are_granted_normalized_with_the_deployment_s_limits()
    {
        var (_, key) = await service.CreateKeyAsync("granted");
        var client = service.With(key);
        var sessionId = await client.SubmitAsync("print('online')\n", ("egress", "PyPI.test.internal"), ("egress", "files.data.example:443"), ("egress", "127.0.0.1:8080"));
        var egress = (await service.Host.JobAsync(sessionId)).Egress;
        Assert.NotNull(egress);
        Assert.Equal(["pypi.test.internal", "files.data.example:443", "127.0.0.1:8080"], egress.Destinations);
        Assert.Equal((1048576L, 8), (egress.MaxBytes, egress.MaxConnections));

        // The JSON body takes an array; '*' is every destination the key is allowed.
        using var json = await client.PostAsJsonAsync("/execute", new { code = "print('all')\n", egress = Everything });
        Assert.Equal(HttpStatusCode.OK, json.StatusCode);
        var all = (await service.Host.JobAsync((await json.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("session_id").GetString()!)).Egress;
        Assert.Equal(["pypi.test.internal", "*.data.example:443", "127.0.0.1:*"], all!.Destinations);
    }

    [Fact]
    public async Task A_destination_beyond_the_allow_list_or_unreadable_is_a_400_naming_it_and_nothing_is_stored()
    {
        var (_, key) = await service.CreateKeyAsync("refused");
        var client = service.With(key);
        using var form = Form(("egress", "pypi.test.internal"), ("egress", "evil.example"), ("egress", "files.data.example:80"));
        using var refused = await client.PostAsync("/execute", form);
        var problem = await ProblemAssert.IsProblemAsync(refused, HttpStatusCode.BadRequest, "egress-not-allowed");
        var detail = problem.GetProperty("detail").GetString()!;
        Assert.Contains("'evil.example'", detail, StringComparison.Ordinal);
        Assert.Contains("'files.data.example:80'", detail, StringComparison.Ordinal);
        Assert.DoesNotContain("'pypi.test.internal'", detail.Split("It may reach:")[0], StringComparison.Ordinal);

        using var unreadable = await client.PostAsync("/execute", Form(("egress", "http://pypi.test.internal/simple")));
        await ProblemAssert.IsProblemAsync(unreadable, HttpStatusCode.BadRequest, "bad-egress");
        using var notStrings = await client.PostAsJsonAsync("/execute", new { code = "print(1)\n", egress = "pypi.test.internal" });
        await ProblemAssert.IsProblemAsync(notStrings, HttpStatusCode.BadRequest, "bad-egress");
    }

    [Fact]
    public async Task A_key_s_own_list_replaces_the_deployment_s_and_an_empty_one_allows_nothing()
    {
        var (_, narrow) = await service.CreateKeyAsync("narrow", new { egress_hosts = Partner });
        var client = service.With(narrow);
        using var deploymentWide = await client.PostAsync("/execute", Form(("egress", "pypi.test.internal")));
        await ProblemAssert.IsProblemAsync(deploymentWide, HttpStatusCode.BadRequest, "egress-not-allowed");
        var sessionId = await client.SubmitAsync("print(1)\n", ("egress", "api.partner.example:8443"));
        Assert.Equal(["api.partner.example:8443"], (await service.Host.JobAsync(sessionId)).Egress!.Destinations);

        var (_, none) = await service.CreateKeyAsync("offline", new { egress_hosts = Array.Empty<string>() });
        using var nothing = await service.With(none).PostAsync("/execute", Form(("egress", "*")));
        var problem = await ProblemAssert.IsProblemAsync(nothing, HttpStatusCode.BadRequest, "egress-not-allowed");
        Assert.Contains("may reach nothing", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);

        using var bad = await service.Operator.PostAsJsonAsync("/admin/keys", new { name = "bad", egress_hosts = NotAHost });
        await ProblemAssert.IsProblemAsync(bad, HttpStatusCode.BadRequest, "bad-key-request");
    }

    [Fact]
    public async Task Judge0_s_enable_network_sandboxes_and_E2B_s_network_options_ask_through_the_same_gate()
    {
        var (_, key) = await service.CreateKeyAsync("surfaces");
        var client = service.With(key);

        using var judge0 = await client.PostAsJsonAsync("/submissions", new { source_code = "print(1)", language_id = 71, enable_network = true });
        Assert.Equal(HttpStatusCode.Created, judge0.StatusCode);
        var token = (await judge0.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
        var judged = await WaitForJobAsync(token);
        Assert.Equal(["pypi.test.internal", "*.data.example:443", "127.0.0.1:*"], judged.Egress!.Destinations);

        using var sandbox = await client.PostAsJsonAsync("/sandboxes", new { egress = Index });
        Assert.Equal(HttpStatusCode.Created, sandbox.StatusCode);
        var sandboxId = (await sandbox.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("sandbox_id").GetString()!;
        var create = service.Host.CreatedSandboxes[sandboxId];
        Assert.Equal(["pypi.test.internal"], create.Egress!.Destinations);
        using var refused = await client.PostAsJsonAsync("/sandboxes", new { egress = Evil });
        await ProblemAssert.IsProblemAsync(refused, HttpStatusCode.BadRequest, "egress-not-allowed");

        // E2B: allowInternetAccess is everything the key is allowed; network.allowOut names destinations.
        using var e2b = service.With(null);
        e2b.DefaultRequestHeaders.Add("X-API-KEY", Executor.SessionCore.Access.ApiKeys.ToE2bForm(key));
        using var open = await e2b.PostAsJsonAsync("/e2b/sandboxes", new { templateID = "base", allow_internet_access = true });
        Assert.Equal(HttpStatusCode.Created, open.StatusCode);
        var openId = (await open.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("sandboxID").GetString()!;
        Assert.Equal(["pypi.test.internal", "*.data.example:443", "127.0.0.1:*"], service.Host.CreatedSandboxes[openId].Egress!.Destinations);
        using var listed = await e2b.PostAsJsonAsync("/e2b/sandboxes", new { templateID = "base", network = new { allowOut = Index } });
        Assert.Equal(HttpStatusCode.Created, listed.StatusCode);
        var listedId = (await listed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("sandboxID").GetString()!;
        Assert.Equal(Index, service.Host.CreatedSandboxes[listedId].Egress!.Destinations);
        using var closed = await e2b.PostAsJsonAsync("/e2b/sandboxes", new { templateID = "base" });
        var closedId = (await closed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("sandboxID").GetString()!;
        Assert.Null(service.Host.CreatedSandboxes[closedId].Egress);
        Assert.True((await e2b.GetFromJsonAsync<JsonElement>($"/e2b/sandboxes/{openId}")).GetProperty("allowInternetAccess").GetBoolean());
        Assert.False((await e2b.GetFromJsonAsync<JsonElement>($"/e2b/sandboxes/{closedId}")).GetProperty("allowInternetAccess").GetBoolean());
    }

    [Fact]
    public async Task The_connections_a_host_reports_are_in_the_result()
    {
        var (_, key) = await service.CreateKeyAsync("reported");
        var client = service.With(key);
        var at = DateTimeOffset.UtcNow;
        service.Host.Respond = job => job.Egress is null ? Runs.Echo(job) : Runs.Echo(job) with
        {
            Egress = [new EgressConnection(at, "pypi.test.internal:443", true, Address: "10.0.0.5", BytesSent: 512, BytesReceived: 4096, DurationMs: 12),
                new EgressConnection(at, "evil.example:443", false, EgressRefusals.NotAllowed)],
        };
        var sessionId = await client.SubmitAsync("print('fetched')\n", ("egress", "pypi.test.internal"));
        var result = await client.WaitForResultAsync(sessionId);
        var egress = result.GetProperty("egress");
        Assert.Equal(2, egress.GetArrayLength());
        Assert.Equal(("pypi.test.internal:443", true, 4096L), (egress[0].GetProperty("destination").GetString(), egress[0].GetProperty("allowed").GetBoolean(),
            egress[0].GetProperty("bytes_received").GetInt64()));
        Assert.Equal("not_allowed", egress[1].GetProperty("refused").GetString());
    }

    private async Task<RunJob> WaitForJobAsync(string sessionId) => await service.Host.JobAsync(sessionId);

    private static MultipartFormDataContent Form(params (string Field, string Value)[] fields)
    {
        var form = new MultipartFormDataContent();
        form.AddFile("main.py", "print(1)\n");
        foreach (var (field, value) in fields)
        {
            form.Add(new StringContent(value), field);
        }
        return form;
    }
}
