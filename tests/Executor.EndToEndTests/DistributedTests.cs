using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;

namespace Executor.EndToEndTests;

/// <summary>
/// The distributed mode on one machine, as ./run.sh --distributed starts it: a real PostgreSQL (eng/postgres.sh), two
/// SessionService replicas and two runner hosts, the second on a Docker engine of its own (eng/private-engine.sh).
/// </summary>
public sealed class DistributedStackFixture : StackFixture
{
    public override string Deployment => "tests-distributed";

    /// <summary>A host name whose credential SessionService no longer accepts (Sessions:RevokedHosts).</summary>
    public const string RevokedHost = "revoked-host";

    protected override IEnumerable<string> ExtraArguments =>
        ["--Executor:Mode=distributed", "--Executor:SessionReplicas=2", "--Executor:RunnerHosts=2", $"--Executor:RevokedHosts={RevokedHost}",
            "--Executor:EgressAllowedHosts=127.0.0.3:*", "--Executor:EgressAllowedPrivateAddresses=127.0.0.3/32"];

    protected override int DataPoolSize => 0;

    protected override IReadOnlyList<string> SessionNames => ["session-1", "session-2"];

    protected override IReadOnlyList<(string Runner, string Prewarm)> HostNames => [("runner-1", "prewarm-1"), ("runner-2", "prewarm-2")];

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Shell.RunAsync($"{Path.Combine(Repository.Root, "eng", "private-engine.sh")} wipe {Deployment}-host-2");
    }
}

[CollectionDefinition(Name)]
public sealed class DistributedCollection : ICollectionFixture<DistributedStackFixture>
{
    public const string Name = "6 distributed";
}

[Collection(DistributedCollection.Name)]
public sealed class DistributedTests(DistributedStackFixture stack)
{
    private const string SlowScript = "import time\ntime.sleep(6)\nprint('done')\n";

    [Fact]
    public async Task A_session_submitted_through_one_replica_is_answered_by_the_other_and_wait_mode_works_across_them()
    {
        var quick = await stack.Sessions[0].SubmitAsync("print('through replica one')\n");
        using (var read = await stack.Sessions[1].GetAsync($"/result/{quick}?wait_seconds=30"))
        {
            Assert.Equal(HttpStatusCode.OK, read.StatusCode);
            var answer = await read.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True("through replica one\n" == answer.GetProperty("logs").GetString(), $"the result: {answer}");
        }

        // A long-poll on the other replica wakes when the result is stored (a signal through PostgreSQL's NOTIFY).
        var slow = await stack.Sessions[0].SubmitAsync("import time\ntime.sleep(2)\nprint('late')\n");
        var clock = Stopwatch.StartNew();
        using var waited = await stack.Sessions[1].GetAsync($"/result/{slow}?wait_seconds=30");
        Assert.Equal(HttpStatusCode.OK, waited.StatusCode);
        var result = await waited.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("late\n", result.GetProperty("logs").GetString());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(25), "the wait ended when the run did, not at its deadline");
        Assert.StartsWith("host-", result.GetProperty("runner_host").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Output_input_and_files_go_through_a_replica_other_than_the_one_that_took_the_submission()
    {
        var sessionId = await stack.Sessions[0].SubmitAsync("""
            import time
            print("ready", flush=True)
            name = input()
            with open("out/greeting.txt", "w") as f:
                f.write(f"hello {name}")
            time.sleep(1)
            print("written")
            """, ("stdin_mode", "interactive"), ("timeout_seconds", "30"));

        // The stream through replica two: the output as it happens, then the result.
        var events = new List<System.Net.ServerSentEvents.SseItem<string>>();
        var streaming = Task.Run(async () =>
        {
            await foreach (var item in LiveTests.EventsAsync(stack.Sessions[1], sessionId))
            {
                events.Add(item);
            }
        });
        // The input through replica two as well, while the run's host reads it from whichever replica it asks.
        await using (var attach = await Attachment.ConnectAsync(stack.Sessions[1], sessionId))
        {
            await attach.ReceiveUntilAsync(m => attach.Stdout.Contains("ready\n", StringComparison.Ordinal));
            await attach.SendAsync("postgres\n");
            Assert.Equal("completed", (await attach.ResultAsync()).GetProperty("status").GetString());
        }
        await streaming.WaitAsync(ExecutorApi.ResultDeadline);

        Assert.Equal("ready\nwritten\n", string.Concat(events.Where(e => e.EventType == "stdout").Select(LiveTests.Text)));
        Assert.Equal("result", events[^1].EventType);
        var result = await stack.Sessions[1].WaitForResultAsync(sessionId);
        var file = Assert.Single(result.GetProperty("files").EnumerateArray());
        Assert.Equal("hello postgres", await stack.Sessions[1].GetStringAsync(file.GetProperty("url").GetString()));
        Assert.Equal("hello postgres", await stack.Sessions[0].GetStringAsync(file.GetProperty("url").GetString()));
    }

    [Fact]
    public async Task A_callback_is_delivered_once_although_two_replicas_deliver()
    {
        using var receiver = CallbackReceiver.Start(500);
        var sessionId = await stack.Sessions[0].SubmitAsync("print('one delivery')\n", ("callback_url", receiver.Url));

        await receiver.WaitForAsync(d => d.AnsweredWith == 200, TimeSpan.FromSeconds(60));
        await Task.Delay(TimeSpan.FromSeconds(3)); // time for a duplicate, were there one

        var attempts = receiver.Deliveries.Where(d => d.Headers["X-Executor-Session"] == sessionId).ToList();
        Assert.Equal([500, 200], attempts.Select(a => a.AnsweredWith));
        Assert.All(attempts, CallbackReceiver.AssertSigned);
    }

    [Fact]
    public async Task A_host_credential_acts_for_its_own_host_only_and_on_the_sessions_that_host_claimed()
    {
        // An interactive session, held by whichever host claimed it, waiting for its caller's input.
        var sessionId = await stack.Sessions[0].SubmitAsync("print('got', input())\n", ("stdin_mode", "interactive"), ("timeout_seconds", "30"));
        await using var caller = await Attachment.ConnectAsync(stack.Sessions[0], sessionId);
        string? claimedBy = null;
        await ExecutorApi.WaitUntilAsync(async () =>
        {
            for (var i = 0; i < stack.Runners.Count; i++)
            {
                using var run = await stack.Runners[i].GetAsync($"/runs/{sessionId}");
                if (run.IsSuccessStatusCode)
                {
                    claimedBy = $"host-{i + 1}";
                    return true;
                }
            }
            return false;
        }, "a host runs the session");

        // A valid credential of another host (one that never claimed it): its input and its result are not found.
        using var intruder = HostClient("intruder");
        using (var stdin = await intruder.GetAsync($"/hosts/intruder/runs/{sessionId}/stdin?from=0"))
        {
            Assert.Equal(HttpStatusCode.NotFound, stdin.StatusCode);
            Assert.Equal("urn:executor:problem:not-the-hosts-session", (await stdin.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString());
        }
        using (var forged = await intruder.PostAsync($"/hosts/intruder/runs/{sessionId}/result", Forged()))
        {
            Assert.Equal(HttpStatusCode.NotFound, forged.StatusCode);
        }
        // Nor does it pass for the host that did claim it, and neither does no credential at all.
        using var anonymous = new HttpClient { BaseAddress = stack.Sessions[0].BaseAddress };
        foreach (var client in new[] { intruder, anonymous })
        {
            using var stdin = await client.GetAsync($"/hosts/{claimedBy}/runs/{sessionId}/stdin?from=0");
            Assert.Equal(HttpStatusCode.Unauthorized, stdin.StatusCode);
            using var forged = await client.PostAsync($"/hosts/{claimedBy}/runs/{sessionId}/result", Forged());
            Assert.Equal(HttpStatusCode.Unauthorized, forged.StatusCode);
            Assert.Equal("urn:executor:problem:host-credential-required", (await forged.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString());
        }
        // A revoked host's own credential is refused, on every replica.
        using var revoked = HostClient(DistributedStackFixture.RevokedHost);
        foreach (var replica in stack.Sessions)
        {
            using var beat = await revoked.PostAsJsonAsync(new Uri(replica.BaseAddress!, $"/hosts/{DistributedStackFixture.RevokedHost}/heartbeat"),
                new { instance = "revoked-1", running = Array.Empty<string>(), capacity = 1, prewarm_generation = 0 });
            Assert.Equal(HttpStatusCode.Forbidden, beat.StatusCode);
        }

        // The session is untouched: its own host takes the caller's input and reports the real result.
        await caller.SendAsync("caller\n");
        Assert.Equal("completed", (await caller.ResultAsync()).GetProperty("status").GetString());
        var result = await stack.Gateway.WaitForResultAsync(sessionId);
        Assert.Equal("got caller\n", result.GetProperty("stdout").GetString());
        Assert.Equal(claimedBy, result.GetProperty("runner_host").GetString());

        static StringContent Forged() => new("""{"status":"completed","stdout":"forged","exit_code":0}""", System.Text.Encoding.UTF8, "application/json");
    }

    /// <summary>
    /// A client of the gateway whose key may run more at once than one host can: the anonymous caller's 4 are one host's 4
    /// slots, so one host could take them all while the other found the rest of the queue beyond the caller's quota (and
    /// the tests of where runs land would be about that quota).
    /// </summary>
    private async Task<HttpClient> SpreadingClientAsync(string name)
    {
        var (_, key) = await stack.Operator.CreateKeyAsync(name, new { max_concurrent_runs = 100 });
        var client = new HttpClient { BaseAddress = stack.Gateway.BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>A client of SessionService's run protocol presenting <paramref name="host"/>'s own credential.</summary>
    private HttpClient HostClient(string host)
    {
        var client = new HttpClient { BaseAddress = stack.Sessions[0].BaseAddress };
        client.DefaultRequestHeaders.Add("X-Executor-Host-Token", ComposeStackTests.HostCredential(StackFixture.HostSecret, host));
        return client;
    }

    [Fact]
    public async Task A_hosts_runner_and_pool_answer_only_each_other_except_their_probes_and_the_public_prewarm_still_reaches_the_pools()
    {
        using var anonymousPool = new HttpClient { BaseAddress = stack.Prewarms[0].BaseAddress };
        using var anonymousRunner = new HttpClient { BaseAddress = stack.Runners[0].BaseAddress };
        using var wrongToken = new HttpClient { BaseAddress = stack.Prewarms[0].BaseAddress };
        wrongToken.DefaultRequestHeaders.Add("X-Executor-Internal-Token", "not-the-token-0123456789");
        foreach (var request in new Func<Task<HttpResponseMessage>>[]
        {
            () => anonymousPool.PostAsync("/leases", null),
            () => anonymousPool.PostAsync("/prewarm?count=64", null),
            () => anonymousPool.GetAsync("/pool"),
            () => wrongToken.PostAsync("/leases", null),
            () => anonymousRunner.GetAsync("/state"),
            () => anonymousRunner.GetAsync("/runs/0123456789abcdef0123456789abcdef"),
        })
        {
            using var response = await request();
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("urn:executor:problem:internal-credential-required", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString());
        }
        foreach (var probe in new[] { anonymousPool, anonymousRunner })
        {
            using var health = await probe.GetAsync("/health");
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        }

        // The public POST /prewarm goes gateway → SessionService → each host's heartbeat → its runner → its pool.
        try
        {
            using (var prewarm = await stack.Operator.PostAsync("/prewarm?count=3", null))
            {
                Assert.Equal(HttpStatusCode.OK, prewarm.StatusCode);
            }
            foreach (var pool in stack.Prewarms)
            {
                await ExecutorApi.WaitUntilAsync(async () => (await pool.GetFromJsonAsync<JsonElement>("/pool")).GetProperty("target").GetInt32() >= 3,
                    "every host's pool hears of the public prewarm");
            }
        }
        finally
        {
            using var back = await stack.Operator.PostAsync($"/prewarm?count={StackFixture.PoolSize}", null);
        }
    }

    [Fact]
    public async Task Runs_land_on_both_hosts_and_each_result_names_its_host()
    {
        using var client = await SpreadingClientAsync("both-hosts");
        var ids = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => client.SubmitAsync("import time\ntime.sleep(1)\nprint('ok')\n")));

        var results = await Task.WhenAll(ids.Select(client.WaitForResultAsync));

        Assert.All(results, r => Assert.Equal("completed", r.GetProperty("status").GetString()));
        Assert.Equal(["host-1", "host-2"], results.Select(r => r.GetProperty("runner_host").GetString()).Distinct().Order());
        var hosts = await stack.Operator.GetFromJsonAsync<JsonElement>("/admin/hosts");
        Assert.Equal(["host-1", "host-2"], hosts.EnumerateArray().Select(h => h.GetProperty("id").GetString()).Order());
        Assert.All(hosts.EnumerateArray(), h => Assert.Equal("alive", h.GetProperty("state").GetString()));
    }

    [Fact]
    public async Task Each_host_s_own_proxy_carries_the_egress_of_the_runs_it_claims()
    {
        await using var origin = new EgressOrigin(IPAddress.Parse("127.0.0.3"));
        origin.Serve("/", "through this host's proxy");
        var script = $"import time, urllib.request\nprint(urllib.request.urlopen('http://{origin.Destination}/', timeout=10).read().decode())\ntime.sleep(1)\n";
        using var client = await SpreadingClientAsync("egress-both-hosts");
        var ids = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => client.SubmitAsync(script, ("egress", origin.Destination))));

        var results = await Task.WhenAll(ids.Select(client.WaitForResultAsync));

        Assert.All(results, r => Assert.True(r.GetProperty("stdout").GetString() == "through this host's proxy\n", $"the result: {r}"));
        Assert.All(results, r => Assert.True(Assert.Single(r.GetProperty("egress").EnumerateArray()).GetProperty("allowed").GetBoolean()));
        Assert.Equal(["host-1", "host-2"], results.Select(r => r.GetProperty("runner_host").GetString()).Distinct().Order());
    }

    [Fact]
    public async Task A_host_killed_mid_run_ends_its_sessions_naming_it_and_every_other_session_completes()
    {
        // Three times what one host runs at once (4 on 2 cores): host-2 has some 18 s to claim its share even when a loaded
        // machine keeps it slow after the previous test's burst, before host-1 would have run them all.
        using var client = await SpreadingClientAsync("host-killed");
        var ids = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => client.SubmitAsync(SlowScript)));
        try
        {
            await ExecutorApi.WaitUntilAsync(async () => (await ActiveRunsAsync(0)) > 0 && (await ActiveRunsAsync(1)) > 0, "both hosts run some");
        }
        catch (Exception e)
        {
            var states = await Task.WhenAll(stack.Runners.Select(r => r.GetStringAsync("/state")));
            var hosts = await stack.Operator.GetStringAsync("/admin/hosts");
            var sessions = await Task.WhenAll(ids.Select(id => client.GetStringAsync($"/result/{id}")));
            throw new InvalidOperationException($"{e.Message}\nrunners: {string.Join("\n", states)}\nhosts: {hosts}\nsessions: {string.Join("\n", sessions.Take(3))}", e);
        }
        var onHost2 = await RunningOnAsync(stack.Runners[1], ids);
        Assert.NotEmpty(onHost2);
        var runner2 = await stack.Runners[1].GetFromJsonAsync<JsonElement>("/state");

        using (var process = Process.GetProcessById(runner2.GetProperty("pid").GetInt32()))
        {
            process.Kill(entireProcessTree: true); // SIGKILL: the host's runs are never reported
            process.WaitForExit(10_000);
        }

        // Every session ends: those host-2 was running as internal_error naming it, all others completed (on host-1,
        // or on host-2 once it is back); none stays running.
        await StartAgainAsync("runner-2");
        var results = (await Task.WhenAll(ids.Select(client.WaitForResultAsync))).Select((r, i) => (Id: ids[i], Result: r)).ToList();
        var lost = results.Where(r => r.Result.GetProperty("status").GetString() == "internal_error").ToList();
        Assert.Superset(onHost2, lost.Select(r => r.Id).ToHashSet());
        Assert.All(lost, r =>
        {
            Assert.Equal("host-2", r.Result.GetProperty("runner_host").GetString());
            Assert.Contains("'host-2'", r.Result.GetProperty("detail").GetString(), StringComparison.Ordinal);
        });
        Assert.All(results.Except(lost), r => Assert.Equal("completed", r.Result.GetProperty("status").GetString()));
    }

    [Fact]
    public async Task The_e2b_sdk_creates_through_one_replica_and_runs_code_and_files_through_the_other()
    {
        // E2B's control plane on replica one, its data plane (the sandbox's own token) on replica two: nothing one keeps in
        // memory is needed by the other. The open mode takes "e2b_00" as no key (E2B's SDK insists on sending one).
        var one = stack.Sessions[0].BaseAddress!.ToString().TrimEnd('/');
        var two = stack.Sessions[1].BaseAddress!.ToString().TrimEnd('/');
        var output = await NodeClients.RunAsync("e2b-distributed", """
            const [api, data] = process.argv.slice(2)
            Object.assign(process.env, { E2B_API_URL: api, E2B_SANDBOX_URL: data, E2B_API_KEY: 'e2b_00' })
            const { Sandbox } = await import('@e2b/code-interpreter')
            const sandbox = await Sandbox.create()
            await sandbox.runCode('x = 41')
            const run = await sandbox.runCode('x + 1')
            await sandbox.files.write('/home/user/note.txt', 'through replica two')
            const read = await sandbox.files.read('/home/user/note.txt')
            const command = await sandbox.commands.run('cat note.txt')
            const info = await sandbox.getInfo()
            const killed = await sandbox.kill()
            console.log(JSON.stringify({ id: sandbox.sandboxId, text: run.text, read, command: command.stdout, state: info.state, killed }))
            """, one + "/e2b", two);
        var r = JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;

        Assert.Equal(("42", "through replica two", "through replica two", "running", true),
            (r.GetProperty("text").GetString(), r.GetProperty("read").GetString(), r.GetProperty("command").GetString(),
                r.GetProperty("state").GetString(), r.GetProperty("killed").GetBoolean()));
        var ended = await stack.Sessions[1].GetFromJsonAsync<JsonElement>($"/sandboxes/{r.GetProperty("id").GetString()}");
        Assert.Equal("ended", ended.GetProperty("state").GetString());
    }

    [Fact]
    public async Task A_jupyter_kernel_started_through_one_replica_runs_cells_over_a_websocket_to_the_other()
    {
        var output = await NodeClients.RunAsync("jupyter-distributed", """
            import { KernelManager, KernelAPI, ServerConnection } from "@jupyterlab/services";
            console.debug = () => {};
            const [one, two] = process.argv.slice(2);
            // REST (start, list, shut down) on replica one; the kernel's channels WebSocket on replica two.
            const serverSettings = ServerConnection.makeSettings({ baseUrl: one, wsUrl: two.replace(/^http/, "ws") });
            const kernels = new KernelManager({ serverSettings });
            const kernel = await kernels.startNew({ name: "python3" });
            const streamed = [];
            await kernel.requestExecute({ code: "y = 6 * 7" }).done;
            const future = kernel.requestExecute({ code: "print('from', y)\ny + 1" });
            let printed = "";  // print() may arrive in several stream messages (its parts are written apart)
            future.onIOPub = msg => { if (msg.header.msg_type === "stream") printed += msg.content.text;
                                      if (msg.header.msg_type === "execute_result") streamed.push(printed, msg.content.data["text/plain"]); };
            const reply = (await future.done).content;
            const listed = (await KernelAPI.listRunning(ServerConnection.makeSettings({ baseUrl: two }))).map(k => k.id);
            await kernel.shutdown();
            kernels.dispose();
            console.log(JSON.stringify({ id: kernel.id, status: reply.status, streamed, listed: listed.includes(kernel.id) }));
            """, stack.Sessions[0].BaseAddress!.ToString(), stack.Sessions[1].BaseAddress!.ToString());
        var r = JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;

        Assert.Equal("ok", r.GetProperty("status").GetString());
        Assert.Equal(["from 42\n", "43"], r.GetProperty("streamed").EnumerateArray().Select(t => t.GetString()));
        Assert.True(r.GetProperty("listed").GetBoolean());
    }

    [Fact]
    public async Task A_sandbox_on_the_second_host_keeps_its_state_through_either_replica_and_ends_naming_its_host_when_that_host_is_killed()
    {
        var sandboxId = await SandboxOnAsync("host-2");
        await stack.Sessions[0].CallAsync(sandboxId, "counter = 1");
        var second = await stack.Sessions[1].CallAsync(sandboxId, "counter += 1\ncounter");
        var first = await stack.Sessions[0].CallAsync(sandboxId, "counter * 10");
        Assert.Equal(("2", "20"), (second.GetProperty("results")[0].GetProperty("text/plain").GetString(),
            first.GetProperty("results")[0].GetProperty("text/plain").GetString()));
        using (var put = await stack.Sessions[1].PutAsync($"/sandboxes/{sandboxId}/files/note.txt", new StringContent("via replica two")))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }
        Assert.Equal("via replica two", await stack.Sessions[0].GetStringAsync($"/sandboxes/{sandboxId}/files/note.txt"));

        var runner2 = await stack.Runners[1].GetFromJsonAsync<JsonElement>("/state");
        using (var process = Process.GetProcessById(runner2.GetProperty("pid").GetInt32()))
        {
            process.Kill(entireProcessTree: true); // SIGKILL: the host never says goodbye
            process.WaitForExit(10_000);
        }
        try
        {
            // A call while the host is silent gets an answer (never a hang): the sandbox ends naming its host.
            await ExecutorApi.WaitUntilAsync(async () =>
                (await stack.Gateway.GetFromJsonAsync<JsonElement>($"/sandboxes/{sandboxId}")).GetProperty("state").GetString() == "ended",
                "the dead host's sandbox ends");
            var ended = await stack.Gateway.GetFromJsonAsync<JsonElement>($"/sandboxes/{sandboxId}");
            Assert.Contains("'host-2'", ended.GetProperty("ended_reason").GetString(), StringComparison.Ordinal);
            using var late = await stack.Sessions[1].PostAsJsonAsync($"/sandboxes/{sandboxId}/run", new { code = "counter" });
            Assert.Equal(HttpStatusCode.Gone, late.StatusCode);
        }
        finally
        {
            await StartAgainAsync("runner-2");
        }
        var fresh = await stack.Gateway.CreateSandboxAsync();
        Assert.Equal("ok", (await stack.Gateway.CallAsync(fresh.GetProperty("sandbox_id").GetString()!, "1")).GetProperty("status").GetString());
        await stack.Gateway.DeleteAsync($"/sandboxes/{fresh.GetProperty("sandbox_id").GetString()}");
    }

    /// <summary>Creates sandboxes until one lands on the host (creates go to whichever host claims first), deleting the others.</summary>
    private async Task<string> SandboxOnAsync(string host)
    {
        for (var attempt = 0; attempt < 12; attempt++)
        {
            var sandbox = await stack.Gateway.CreateSandboxAsync();
            var id = sandbox.GetProperty("sandbox_id").GetString()!;
            if (sandbox.GetProperty("host").GetString() == host)
            {
                return id;
            }
            await stack.Gateway.DeleteAsync($"/sandboxes/{id}");
        }
        throw new InvalidOperationException($"no sandbox landed on {host} in 12 creates");
    }

    [Fact]
    public async Task When_the_second_engine_stops_its_host_is_marked_down_and_work_goes_on_on_the_first()
    {
        await RunCommandAsync("engine-2", KnownResourceCommands.StopCommand);
        try
        {
            await ExecutorApi.WaitUntilAsync(async () =>
            {
                var hosts = await stack.Operator.GetFromJsonAsync<JsonElement>("/admin/hosts");
                return hosts.EnumerateArray().Single(h => h.GetProperty("id").GetString() == "host-2")
                    .GetProperty("engine_problem").ValueKind == JsonValueKind.String;
            }, "host-2 reports its engine down");

            var ids = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => stack.Gateway.SubmitAsync("print('on host one')\n")));
            var results = await Task.WhenAll(ids.Select(stack.Gateway.WaitForResultAsync));

            Assert.All(results, r => Assert.Equal(("completed", "host-1"), (r.GetProperty("status").GetString(), r.GetProperty("runner_host").GetString())));
        }
        finally
        {
            await RunCommandAsync("engine-2", KnownResourceCommands.StartCommand);
            await ExecutorApi.WaitUntilAsync(async () =>
            {
                var hosts = await stack.Operator.GetFromJsonAsync<JsonElement>("/admin/hosts");
                return hosts.EnumerateArray().Single(h => h.GetProperty("id").GetString() == "host-2")
                    .GetProperty("engine_problem").ValueKind == JsonValueKind.Null;
            }, "host-2's engine is back");
        }
    }

    [Fact]
    public async Task While_PostgreSQL_is_away_submissions_get_503_nothing_accepted_is_lost_and_service_resumes()
    {
        var accepted = await stack.Gateway.SubmitAsync("import time\ntime.sleep(4)\nprint('survived the outage')\n");
        await RunCommandAsync("postgres", KnownResourceCommands.StopCommand);
        try
        {
            HttpResponseMessage? refused = null;
            await ExecutorApi.WaitUntilAsync(async () =>
            {
                refused?.Dispose();
                refused = await stack.Gateway.UploadAsync("print(1)\n");
                return refused.StatusCode == HttpStatusCode.ServiceUnavailable;
            }, "submissions are refused while PostgreSQL is away");
            Assert.Equal("application/problem+json", refused!.Content.Headers.ContentType?.MediaType);
            Assert.NotNull(refused.Headers.RetryAfter);
            Assert.Equal("urn:executor:problem:store-unavailable", (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString());
            refused.Dispose();
            using var health = await stack.Sessions[0].GetAsync("/health");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        }
        finally
        {
            await RunCommandAsync("postgres", KnownResourceCommands.StartCommand);
        }

        await ExecutorApi.WaitUntilAsync(async () =>
        {
            using var response = await stack.Gateway.UploadAsync("print(1)\n");
            return response.StatusCode == HttpStatusCode.OK;
        }, "submissions are accepted again");
        var result = await stack.Gateway.WaitForResultAsync(accepted);
        Assert.Equal("survived the outage\n", result.GetProperty("logs").GetString());
    }

    private async Task<int> ActiveRunsAsync(int host) =>
        (await stack.Runners[host].GetFromJsonAsync<JsonElement>("/state")).GetProperty("active_runs").GetInt32();

    private static async Task<HashSet<string>> RunningOnAsync(HttpClient runner, IEnumerable<string> ids)
    {
        var running = new HashSet<string>();
        foreach (var id in ids)
        {
            using var response = await runner.GetAsync($"/runs/{id}");
            if (response.IsSuccessStatusCode && (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("state").GetString() == "running")
            {
                running.Add(id);
            }
        }
        return running;
    }

    private async Task RunCommandAsync(string resource, string command)
    {
        var result = await stack.App.Services.GetRequiredService<ResourceCommandService>().ExecuteCommandAsync(resource, command);
        Assert.True(result.Success, $"{command} on {resource} failed: {result.Message}");
    }

    private async Task StartAgainAsync(string resource)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await stack.App.ResourceNotifications.WaitForResourceAsync(resource,
            e => e.Snapshot.State?.Text is "Exited" or "Finished" or "FailedToStart", timeout.Token);
        await RunCommandAsync(resource, KnownResourceCommands.StartCommand);
        await stack.WaitHealthyAsync(resource);
    }
}
