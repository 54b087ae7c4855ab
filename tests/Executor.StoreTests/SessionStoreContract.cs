using System.Text;
using System.Text.Json;
using Executor.Contracts;
using Executor.SessionCore.Sandboxes;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;
using Microsoft.Extensions.Time.Testing;

namespace Executor.StoreTests;

/// <summary>
/// What every session store must do, whatever database holds it: <see cref="SqliteStoreTests"/> and
/// <see cref="PostgresStoreTests"/> run these same tests against SQLite and against a real PostgreSQL.
/// </summary>
public abstract class SessionStoreContract : IAsyncLifetime
{
    private const string Host = "host-a";
    private const string Instance = "runner-1-aaaa";
    private const int QueueCapacity = 100;

    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 27, 8, 0, 0, TimeSpan.Zero));

    /// <summary>A store over a database of its own, initialized.</summary>
    protected abstract Task<SqlStore> CreateStoreAsync();

    /// <summary>Runs a migration's statement for this engine on the store's database, as it runs at start.</summary>
    protected abstract Task MigrateAsync(Schema.Migration migration);

    /// <summary>Sets a session's stored options to the text given, as an older version wrote them.</summary>
    protected abstract Task SetStoredOptionsAsync(string sessionId, string options);

    private SqlStore _store = null!;

    public async Task InitializeAsync() => _store = await CreateStoreAsync();

    public virtual async Task DisposeAsync()
    {
        if (_store is IAsyncDisposable disposable)
        {
            await disposable.DisposeAsync();
        }
    }

    private async Task<string> SubmitAsync(
        string script = "print(1)\n", string? trace = null, string? owner = null, int? maxRunning = null, bool interactive = false, string? callback = null,
        string? runtime = null)
    {
        var id = SessionIds.New();
        Assert.Equal(SessionAdmission.Created, await _store.CreateAsync(new NewSession(id, "main.py",
            [new SessionFile("main.py", Encoding.UTF8.GetBytes(script)), new SessionFile("lib/data.bin", [0, 1, 2])],
            new RunOptions(["--x"], "stdin", 5, 256, interactive, callback, runtime), trace, owner, maxRunning), QueueCapacity, CancellationToken.None));
        Time.Advance(TimeSpan.FromMilliseconds(10)); // created_at orders the queue
        return id;
    }

    private Task<string?> BeatAsync(string host = Host, string instance = Instance, params string[] running) =>
        _store.BeatAsync(host, new Heartbeat(instance, running, 4, new PoolStatus(2, 2, 0, 64), null, 0), CancellationToken.None);

    private static RunResult Result(string status = RunStatus.Completed) => new() { Status = status, Stdout = "1\n", Logs = "1\n" };

    private async Task<SandboxRecord> NewSandboxAsync(string owner = "owner", int idle = 60, int lifetime = 600, int? maxAlive = null)
    {
        var now = Time.GetUtcNow();
        var sandbox = new SandboxRecord("sbx_" + SessionIds.New(), owner, "python-3.11", SandboxStates.Starting, null, null, now, now, now.AddSeconds(lifetime),
            idle, lifetime, 128, 0, null, null);
        Assert.Equal(SandboxAdmission.Created, await _store.CreateSandboxAsync(sandbox, maxAlive, CancellationToken.None));
        return sandbox;
    }

    private async Task<string> CommandAsync(SandboxRecord sandbox, string kind, string? pinHost)
    {
        var id = SessionIds.New();
        Assert.Equal(SessionAdmission.Created, await _store.CreateAsync(new NewSession(id, "sandbox:" + kind, [],
            new RunOptions([], null, null, null, Runtime: "python-3.11", Sandbox: new SandboxCommand(sandbox.Id, kind, Code: "1")), null, sandbox.Owner)
        {
            SandboxId = sandbox.Id,
            PinHost = pinHost,
        }, QueueCapacity, CancellationToken.None));
        Time.Advance(TimeSpan.FromMilliseconds(10));
        return id;
    }

    [Fact]
    public async Task Sandbox_commands_go_only_by_the_sandbox_lane_creates_to_any_host_and_the_rest_only_to_the_host_holding_the_sandbox()
    {
        await BeatAsync();
        await BeatAsync("host-b", "runner-2-bbbb");
        var sandbox = await NewSandboxAsync();
        var create = await CommandAsync(sandbox, SandboxCommandKinds.Create, pinHost: null);
        var run = await SubmitAsync();

        Assert.Equal([run], (await _store.ClaimAsync(Host, Instance, 10, CancellationToken.None)).Sessions.Select(s => s.Id));
        Assert.Empty((await _store.ClaimSandboxCommandsAsync(Host, Instance, 0, null, CancellationToken.None)).Sessions);
        Assert.Empty((await _store.ClaimSandboxCommandsAsync(Host, Instance, 1, ["python-3.11-data"], CancellationToken.None)).Sessions);
        Assert.Equal([create], (await _store.ClaimSandboxCommandsAsync("host-b", "runner-2-bbbb", 1, ["python-3.11"], CancellationToken.None)).Sessions.Select(s => s.Id));
        Assert.NotNull(await _store.CompleteAsync(create, Result(), "host-b", CancellationToken.None));
        Assert.True(await _store.StartSandboxAsync(sandbox.Id, "host-b", "runner-2-bbbb", "c0ffee", CancellationToken.None));

        var call1 = await CommandAsync(sandbox, SandboxCommandKinds.Run, "host-b");
        var call2 = await CommandAsync(sandbox, SandboxCommandKinds.Run, "host-b");
        Assert.Empty((await _store.ClaimAsync("host-b", "runner-2-bbbb", 10, CancellationToken.None)).Sessions);
        Assert.Empty((await _store.ClaimSandboxCommandsAsync(Host, Instance, 10, null, CancellationToken.None)).Sessions);
        var claimed = await _store.ClaimSandboxCommandsAsync("host-b", "runner-2-bbbb", 0, null, CancellationToken.None);
        Assert.Equal([call1, call2], claimed.Sessions.Select(s => s.Id));
        Assert.Equal(SandboxCommandKinds.Run, claimed.Sessions[0].Options.Sandbox!.Kind);
        Assert.Empty((await _store.ClaimSandboxCommandsAsync("host-b", "runner-2-bbbb", 10, null, CancellationToken.None)).Sessions);
        Assert.Equal([call1, call2], (await _store.UnfinishedCommandsAsync(sandbox.Id, CancellationToken.None)).Select(s => s.Id));
        var found = await _store.FindSandboxAsync(sandbox.Id, CancellationToken.None);
        Assert.Equal((SandboxStates.Running, "host-b", "c0ffee"), (found!.State, found.Host, found.ContainerId));
    }

    [Fact]
    public async Task An_ended_sandbox_ends_its_queued_commands_keeps_its_first_reason_and_is_named_to_a_host_that_still_holds_it()
    {
        await BeatAsync();
        var sandbox = await NewSandboxAsync();
        await _store.StartSandboxAsync(sandbox.Id, Host, Instance, "c0ffee", CancellationToken.None);
        var queued = await CommandAsync(sandbox, SandboxCommandKinds.Run, Host);

        var (ended, commands) = await _store.EndSandboxAsync(sandbox.Id, "deleted by its owner", CancellationToken.None);
        var (again, none) = await _store.EndSandboxAsync(sandbox.Id, "it was idle for 60 s", CancellationToken.None);

        Assert.Equal((SandboxStates.Ended, "deleted by its owner"), (ended!.State, ended.EndedReason));
        Assert.Equal("deleted by its owner", again!.EndedReason);
        Assert.Empty(none);
        var command = Assert.Single(commands);
        Assert.Equal((queued, RunStatus.Cancelled, SandboxStatus.SandboxGone), (command.Id, command.Status, command.Result!.Sandbox!.Status));
        Assert.Empty((await _store.ClaimSandboxCommandsAsync(Host, Instance, 10, null, CancellationToken.None)).Sessions);
        var alive = await NewSandboxAsync();
        var named = await _store.EndedAmongAsync([sandbox.Id, alive.Id, "sbx_unknown"], CancellationToken.None);
        Assert.Equal([sandbox.Id, "sbx_unknown"], named.Select(e => e.SandboxId).Order(StringComparer.Ordinal));
        Assert.Equal("deleted by its owner", named.Single(e => e.SandboxId == sandbox.Id).Reason);
    }

    [Fact]
    public async Task A_sandbox_is_due_after_its_idle_timeout_from_its_last_command_or_after_its_lifetime_and_an_owner_has_at_most_its_quota_alive()
    {
        await BeatAsync();
        var idle = await NewSandboxAsync(idle: 60, lifetime: 600);
        var old = await NewSandboxAsync(idle: 600, lifetime: 100);
        foreach (var s in new[] { idle, old })
        {
            await _store.StartSandboxAsync(s.Id, Host, Instance, null, CancellationToken.None);
        }
        Time.Advance(TimeSpan.FromSeconds(50));
        await _store.TouchSandboxAsync(idle.Id, 1, CancellationToken.None);
        Time.Advance(TimeSpan.FromSeconds(50));
        Assert.Equal([old.Id], (await _store.DueSandboxesAsync(Time.GetUtcNow(), CancellationToken.None)).Select(s => s.Id));
        Time.Advance(TimeSpan.FromSeconds(11));
        Assert.Equal(new[] { idle.Id, old.Id }.Order(StringComparer.Ordinal),
            (await _store.DueSandboxesAsync(Time.GetUtcNow(), CancellationToken.None)).Select(s => s.Id).Order(StringComparer.Ordinal));
        Assert.Equal(1, (await _store.FindSandboxAsync(idle.Id, CancellationToken.None))!.Executions);

        var now = Time.GetUtcNow();
        var over = new SandboxRecord("sbx_over", "owner", null, SandboxStates.Starting, null, null, now, now, now.AddSeconds(60), 60, 60, null, 0, null, null);
        Assert.Equal(SandboxAdmission.OwnerAlive, await _store.CreateSandboxAsync(over, maxAlive: 2, CancellationToken.None));
        await _store.EndSandboxAsync(old.Id, "gone", CancellationToken.None);
        Assert.Equal(SandboxAdmission.Created, await _store.CreateSandboxAsync(over, maxAlive: 2, CancellationToken.None));
        Assert.Equal([idle.Id], (await _store.SandboxesOnAsync(Host, null, CancellationToken.None)).Select(s => s.Id));
        Assert.Empty(await _store.SandboxesOnAsync(Host, Instance, CancellationToken.None));
        Assert.Equal([idle.Id], (await _store.SandboxesOnAsync(Host, "runner-1-later", CancellationToken.None)).Select(s => s.Id));
    }

    [Fact]
    public async Task A_new_session_is_queued_with_its_files_and_options()
    {
        var id = await SubmitAsync(trace: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");

        var found = await _store.FindAsync(id, CancellationToken.None);
        Assert.Equal(SessionStatus.Queued, found!.Status);

        await BeatAsync();
        var claim = await _store.ClaimAsync(Host, Instance, 10, CancellationToken.None);
        var session = Assert.Single(claim.Sessions);
        Assert.Equal(["--x"], session.Options.Args);
        Assert.Equal((5, 256, "stdin"), (session.Options.TimeoutSeconds, session.Options.MemoryMb, session.Options.Stdin));
        Assert.Equal("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", session.TraceParent);
        var files = (await _store.LoadFilesAsync([id], CancellationToken.None))[id];
        Assert.Equal(["lib/data.bin", "main.py"], files.Select(f => f.Path));
        Assert.Equal([0, 1, 2], files[0].Content);
        Assert.Null(await _store.FindAsync("unknown", CancellationToken.None));
    }

    [Fact]
    public async Task Every_option_survives_the_store_so_a_claim_builds_the_job_the_submission_built()
    {
        var options = new RunOptions(["-v", "x y"], "input\n", 7, 64, Interactive: true, CallbackUrl: "https://example.test/hook", Runtime: "python-3.11",
            Surface: "surface", SurfaceData: JsonSerializer.SerializeToElement(new { language_id = 71, expected = "42" }),
            Sandbox: new SandboxCommand("sbx_1", SandboxCommandKinds.Run, Code: "x + 1", Path: "a.txt", IdleTimeoutSeconds: 5, LifetimeSeconds: 9),
            Egress: new EgressPolicy(["pypi.example.org", "*.data.example:443"], 1024, 3),
            Grading: new GradingSpec([new TestCase("one", "1 2\n", "3\n", 1.5), new TestCase(null, "", null)], Comparisons.Tokens, 1e-3, StopOnFailure: true),
            Build: new BuildOptions(["-O2", "-DX=\"a b\""], 12.5));
        // A new option fails here until it is given a value: a default would pass unseen.
        foreach (var property in typeof(RunOptions).GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance))
        {
            var value = property.GetValue(options);
            Assert.False(value is null || value.Equals(property.GetValue(RunOptions.None)), $"give RunOptions.{property.Name} a value in this test");
        }
        var id = SessionIds.New();
        SessionFile[] files = [new("main.py", Encoding.UTF8.GetBytes("print(input())"))];
        await _store.CreateAsync(new NewSession(id, "main.py", files, options, "00-trace"), QueueCapacity, CancellationToken.None);
        var submitted = RunRequests.For(id, "main.py", [.. files.Select(f => new RunFile(f.Path, f.Content))], options, "00-trace");

        await BeatAsync();
        var claimed = Assert.Single((await _store.ClaimAsync(Host, Instance, 1, CancellationToken.None)).Sessions);
        var loaded = (await _store.LoadFilesAsync([id], CancellationToken.None))[id];
        var job = RunRequests.For(claimed.Id, claimed.Entrypoint, loaded, claimed.Options, claimed.TraceParent);

        Assert.Equal(JsonSerializer.Serialize(options), JsonSerializer.Serialize(claimed.Options));
        Assert.Equal(JsonSerializer.Serialize(submitted), JsonSerializer.Serialize(job));
        Assert.Equal(JsonSerializer.Serialize(options), JsonSerializer.Serialize((await _store.FindAsync(id, CancellationToken.None))!.Options));
    }

    [Fact]
    public async Task A_judge0_session_stored_before_surfaces_had_their_own_data_reads_back_as_judge0_s()
    {
        var judge0 = await SubmitAsync();
        var native = await SubmitAsync();
        await SetStoredOptionsAsync(judge0, """
            {"args":[],"stdin":"21","timeout_seconds":5,"memory_mb":null,"interactive":false,"callback_url":null,"runtime":"python-3.11",
             "expected_output":"42","language_id":71,"redirect_stderr_to_stdout":true}
            """);
        await SetStoredOptionsAsync(native, """
            {"args":["-v"],"stdin":null,"timeout_seconds":null,"memory_mb":null,"interactive":false,"callback_url":null,"runtime":null,
             "expected_output":null,"language_id":null,"redirect_stderr_to_stdout":false}
            """);

        await MigrateAsync(Schema.Migrations.Single(m => m.Version == 10));

        var migrated = (await _store.FindAsync(judge0, CancellationToken.None))!.Options;
        Assert.Equal(("judge0", "21", 5, "python-3.11"), (migrated.Surface, migrated.Stdin, migrated.TimeoutSeconds, migrated.Runtime));
        var data = migrated.SurfaceData!.Value;
        Assert.Equal((71, "42", true), (data.GetProperty("language_id").GetInt32(), data.GetProperty("expected_output").GetString(),
            data.GetProperty("redirect_stderr_to_stdout").GetBoolean()));
        var untouched = (await _store.FindAsync(native, CancellationToken.None))!.Options;
        Assert.Equal((null, null), (untouched.Surface, untouched.SurfaceData));
        Assert.Equal(["-v"], untouched.Args);
    }

    [Fact]
    public async Task A_full_queue_stores_nothing_and_a_claim_makes_room()
    {
        await BeatAsync();
        var first = SessionIds.New();
        var second = SessionIds.New();
        NewSession Session(string id) => new(id, "main.py", [new SessionFile("main.py", [1]), new SessionFile("b.py", [2])], RunOptions.None, null);

        Assert.Equal(SessionAdmission.Created, await _store.CreateAsync(Session(first), queueCapacity: 1, CancellationToken.None));
        Assert.Equal(SessionAdmission.QueueFull, await _store.CreateAsync(Session(second), queueCapacity: 1, CancellationToken.None));
        Assert.Null(await _store.FindAsync(second, CancellationToken.None));
        Assert.Empty((await _store.LoadFilesAsync([second], CancellationToken.None))[second]);

        await _store.ClaimAsync(Host, Instance, 1, CancellationToken.None);
        Assert.Equal(SessionAdmission.Created, await _store.CreateAsync(Session(second), queueCapacity: 1, CancellationToken.None));
        Assert.Equal(2, (await _store.LoadFilesAsync([second], CancellationToken.None))[second].Count);
    }

    [Fact]
    public async Task A_claim_takes_the_oldest_first_up_to_its_capacity_and_only_for_a_live_host()
    {
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await SubmitAsync());
        }

        Assert.Empty((await _store.ClaimAsync(Host, Instance, 10, CancellationToken.None)).Sessions); // no heartbeat yet
        await BeatAsync();
        var first = await _store.ClaimAsync(Host, Instance, 2, CancellationToken.None);
        var second = await _store.ClaimAsync(Host, Instance, 2, CancellationToken.None);

        Assert.Equal(ids[..2], first.Sessions.Select(s => s.Id));
        Assert.Equal(ids[2..], second.Sessions.Select(s => s.Id));
        Assert.True(second.Seq > first.Seq);
        Assert.Empty((await _store.ClaimAsync(Host, "another-process", 10, CancellationToken.None)).Sessions);
        var running = await _store.FindAsync(ids[0], CancellationToken.None);
        Assert.Equal((SessionStatus.Running, Host), (running!.Status, running.Host));
    }

    [Fact]
    public async Task Claims_serve_owners_in_turn_so_a_flood_does_not_starve_a_newcomer_even_one_at_a_time()
    {
        await BeatAsync();
        var flood = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            flood.Add(await SubmitAsync(owner: "flood"));
        }
        await _store.ClaimAsync(Host, Instance, 2, CancellationToken.None); // the flood runs two
        var newcomer = await SubmitAsync(owner: "newcomer");

        var next = await _store.ClaimAsync(Host, Instance, 1, CancellationToken.None);

        Assert.Equal([newcomer], next.Sessions.Select(s => s.Id));
    }

    [Fact]
    public async Task An_owner_at_its_concurrency_quota_waits_in_the_queue()
    {
        await BeatAsync();
        var first = await SubmitAsync(owner: "limited", maxRunning: 1);
        var second = await SubmitAsync(owner: "limited", maxRunning: 1);

        Assert.Equal([first], (await _store.ClaimAsync(Host, Instance, 5, CancellationToken.None)).Sessions.Select(s => s.Id));
        Assert.Empty((await _store.ClaimAsync(Host, Instance, 5, CancellationToken.None)).Sessions);
        Assert.Equal((1, 1), await _store.CountUnfinishedAsync("limited", CancellationToken.None));
        await _store.CompleteAsync(first, Result(), Host, CancellationToken.None);
        Assert.Equal([second], (await _store.ClaimAsync(Host, Instance, 5, CancellationToken.None)).Sessions.Select(s => s.Id));
    }

    [Fact]
    public async Task Keys_are_stored_by_their_hash_listed_and_revoked()
    {
        var (id, key, hash) = Executor.SessionCore.Access.ApiKeys.New();
        var record = new Executor.SessionCore.Access.ApiKeyRecord(id, "grader", "user", hash, Time.GetUtcNow(), null,
            new Executor.SessionCore.Access.Quotas(2, 8, 60, 30, 256));
        await _store.CreateKeyAsync(record, CancellationToken.None);

        var found = await _store.FindKeyAsync(id, CancellationToken.None);
        Assert.Equal(record, found);
        Assert.True(Executor.SessionCore.Access.ApiKeys.Matches(Executor.SessionCore.Access.ApiKeys.Parse(key)!.Value.Secret, found!.SecretHash));
        Assert.Single(await _store.ListKeysAsync(CancellationToken.None));
        Assert.True(await _store.RevokeKeyAsync(id, CancellationToken.None));
        Assert.NotNull((await _store.FindKeyAsync(id, CancellationToken.None))!.RevokedAt);
        Assert.False(await _store.RevokeKeyAsync("nosuchkey", CancellationToken.None));
    }

    [Fact]
    public async Task A_host_whose_engine_is_down_gets_no_work()
    {
        await _store.BeatAsync(Host, new Heartbeat(Instance, [], 4, null, "Docker engine unreachable", 0), CancellationToken.None);
        await SubmitAsync();

        Assert.Empty((await _store.ClaimAsync(Host, Instance, 1, CancellationToken.None)).Sessions);
        await BeatAsync();
        Assert.Single((await _store.ClaimAsync(Host, Instance, 1, CancellationToken.None)).Sessions);
    }

    [Fact]
    public async Task A_host_claims_only_sessions_of_the_runtimes_it_can_run()
    {
        await BeatAsync();
        var data = await SubmitAsync(runtime: "python-3.11-data");
        var plain = await SubmitAsync(runtime: "python-3.11");
        var unnamed = await SubmitAsync(); // stored while no host reported runtimes: any host runs it

        Assert.Equal([unnamed], (await _store.ClaimAsync(Host, Instance, 10, [], CancellationToken.None)).Sessions.Select(s => s.Id));
        Assert.Equal([plain], (await _store.ClaimAsync(Host, Instance, 10, ["python-3.11"], CancellationToken.None)).Sessions.Select(s => s.Id));
        var rest = await _store.ClaimAsync(Host, Instance, 10, ["python-3.11", "python-3.11-data"], CancellationToken.None);
        Assert.Equal([data], rest.Sessions.Select(s => s.Id));
        Assert.Equal("python-3.11-data", rest.Sessions.Single().Options.Runtime);
    }

    [Fact]
    public async Task A_host_s_runtimes_are_kept_as_its_last_heartbeat_reported_them()
    {
        RuntimeInfo data = new("python-3.11-data", "python", "3.11", false, 384,
            new Dictionary<string, string> { ["numpy"] = "1.24.2", ["pandas"] = "1.5.3" }, "3.11.2", true, null);
        await _store.BeatAsync(Host, new Heartbeat(Instance, [], 4, null, null, 0,
            [new("python-3.11", "python", "3.11", true, 128, new Dictionary<string, string>(), null, false, null), data]), CancellationToken.None);
        await _store.BeatAsync(Host, new Heartbeat(Instance, [], 4, null, null, 0,
            [new("python-3.11", "python", "3.11", true, 128, new Dictionary<string, string>(), "3.11.2", true, null), data]), CancellationToken.None);

        var runtimes = Assert.Single(await _store.ListHostsAsync(CancellationToken.None)).Runtimes!;
        Assert.Equal(["python-3.11", "python-3.11-data"], runtimes.Select(r => r.Id));
        Assert.True(runtimes[0].Available);
        Assert.Equal("3.11.2", runtimes[0].LanguageVersion);
        Assert.Equal(("1.5.3", 384), (runtimes[1].Packages["pandas"], runtimes[1].MemoryMb));
        await BeatAsync(); // a host that reports none (an older one)
        Assert.Null(Assert.Single(await _store.ListHostsAsync(CancellationToken.None)).Runtimes);
    }

    [Fact]
    public async Task Claims_made_at_once_never_hand_one_session_to_two_hosts()
    {
        const int Sessions = 40;
        for (var i = 0; i < Sessions; i++)
        {
            await SubmitAsync();
        }
        var hosts = Enumerable.Range(0, 4).Select(i => $"host-{i}").ToList();
        foreach (var host in hosts)
        {
            await BeatAsync(host, $"{host}-p");
        }

        var claimed = await Task.WhenAll(hosts.Select(async host =>
        {
            var mine = new List<string>();
            while ((await _store.ClaimAsync(host, $"{host}-p", 3, CancellationToken.None)).Sessions is { Count: > 0 } got)
            {
                mine.AddRange(got.Select(s => s.Id));
            }
            return mine;
        }));

        var all = claimed.SelectMany(c => c).ToList();
        Assert.Equal(Sessions, all.Count);
        Assert.Equal(Sessions, all.Distinct().Count());
    }

    [Fact]
    public async Task What_a_host_never_received_goes_back_to_the_queue_and_what_it_received_stays()
    {
        await BeatAsync();
        var received = await SubmitAsync();
        var receivedClaim = await _store.ClaimAsync(Host, Instance, 1, CancellationToken.None);
        var lost = await SubmitAsync();
        await _store.ClaimAsync(Host, Instance, 1, CancellationToken.None); // its answer never arrived

        var released = await _store.ReleaseUnreceivedAsync(Host, Instance, receivedClaim.Seq, CancellationToken.None);

        Assert.Equal(1, released);
        Assert.Equal(SessionStatus.Running, (await _store.FindAsync(received, CancellationToken.None))!.Status);
        var back = await _store.FindAsync(lost, CancellationToken.None);
        Assert.Equal((SessionStatus.Queued, (string?)null), (back!.Status, back.Host));
        Assert.Equal(0, await _store.ReleaseUnreceivedAsync(Host, "another-process", 0, CancellationToken.None));
    }

    [Fact]
    public async Task Only_the_first_result_counts_and_only_from_the_host_that_runs_it()
    {
        await BeatAsync();
        var id = await SubmitAsync();
        await _store.ClaimAsync(Host, Instance, 1, CancellationToken.None);

        Assert.Null(await _store.CompleteAsync(id, Result(), "host-b", CancellationToken.None));
        var stored = await _store.CompleteAsync(id, Result(), Host, CancellationToken.None);
        Assert.Null(await _store.CompleteAsync(id, Result(RunStatus.Failed), Host, CancellationToken.None));
        Assert.Null(await _store.CompleteAsync(id, Result(RunStatus.Cancelled), host: null, CancellationToken.None));

        Assert.Equal(SessionStatus.Completed, stored!.Status);
        Assert.Equal("1\n", stored.Result!.Stdout);
        Assert.Equal(Time.GetUtcNow(), stored.FinishedAt);
        Assert.Equal(SessionStatus.Completed, (await _store.FindAsync(id, CancellationToken.None))!.Status);
    }

    [Fact]
    public async Task A_queued_session_can_be_ended_before_any_host_claims_it()
    {
        await BeatAsync();
        var id = await SubmitAsync();

        var cancelled = await _store.CompleteAsync(id, Result(RunStatus.Cancelled), host: null, CancellationToken.None);

        Assert.Equal(SessionStatus.Cancelled, cancelled!.Status);
        Assert.Empty((await _store.ClaimAsync(Host, Instance, 10, CancellationToken.None)).Sessions);
    }

    [Fact]
    public async Task A_cancel_request_reaches_the_host_that_runs_the_session()
    {
        await BeatAsync();
        await BeatAsync("host-b", "b-p");
        var id = await SubmitAsync();
        await _store.ClaimAsync(Host, Instance, 1, CancellationToken.None);

        var session = await _store.RequestCancelAsync(id, CancellationToken.None);

        Assert.Equal(Host, session!.Host);
        Assert.Equal([id], await _store.CancelsForAsync(Host, CancellationToken.None));
        Assert.Empty(await _store.CancelsForAsync("host-b", CancellationToken.None));
        await _store.CompleteAsync(id, Result(RunStatus.Cancelled), Host, CancellationToken.None);
        Assert.Empty(await _store.CancelsForAsync(Host, CancellationToken.None));
    }

    [Fact]
    public async Task The_store_watch_reads_what_is_queued_for_which_claims_and_which_awaited_sessions_ended()
    {
        await BeatAsync();
        Assert.Same(QueuedWork.Nothing, await _store.QueuedWorkAsync(CancellationToken.None));
        var run = await SubmitAsync();
        var waiting = await SubmitAsync();
        await CommandAsync(await NewSandboxAsync(), SandboxCommandKinds.Create, pinHost: null);
        await CommandAsync(await NewSandboxAsync(), SandboxCommandKinds.Run, "host-b");

        var queued = await _store.QueuedWorkAsync(CancellationToken.None);

        Assert.Equal([new QueuedRuns(null, 2)], queued.Runs);
        Assert.True(queued.Creates);
        Assert.Equal(["host-b"], queued.PinnedHosts);
        Assert.Equal([run], (await _store.ClaimAsync(Host, Instance, 1, CancellationToken.None)).Sessions.Select(s => s.Id));
        Assert.NotNull(await _store.CompleteAsync(run, Result(), Host, CancellationToken.None));
        Assert.Equal([run], await _store.FinishedAmongAsync([run, waiting, "unknown"], CancellationToken.None));
    }

    [Fact]
    public async Task A_restarted_host_loses_the_runs_of_its_earlier_process_only()
    {
        Assert.Null(await BeatAsync());
        var old = await SubmitAsync();
        await _store.ClaimAsync(Host, Instance, 1, CancellationToken.None);

        Assert.Equal(Instance, await BeatAsync(instance: "runner-2-bbbb"));
        var current = await SubmitAsync();
        await _store.ClaimAsync(Host, "runner-2-bbbb", 1, CancellationToken.None);
        var ended = await _store.EndRunsAsync(Host, keepInstance: "runner-2-bbbb", Result(RunStatus.InternalError), CancellationToken.None);

        Assert.Equal([old], ended.Select(s => s.Id));
        Assert.Equal(Host, ended[0].Result!.RunnerHost);
        Assert.Equal(SessionStatus.Running, (await _store.FindAsync(current, CancellationToken.None))!.Status);
        Assert.Null(await BeatAsync(instance: "runner-2-bbbb"));
    }

    [Fact]
    public async Task A_run_the_host_stops_listing_is_lost_once_it_had_time_to_list_it()
    {
        await BeatAsync();
        var listed = await SubmitAsync();
        var unlisted = await SubmitAsync();
        await _store.ClaimAsync(Host, Instance, 2, CancellationToken.None);
        var fresh = await SubmitAsync();
        Time.Advance(TimeSpan.FromSeconds(11));
        await _store.ClaimAsync(Host, Instance, 1, CancellationToken.None);

        var lost = await _store.EndLostRunsAsync(Host, Instance, [listed], Time.GetUtcNow() - TimeSpan.FromSeconds(10),
            Result(RunStatus.InternalError), CancellationToken.None);

        Assert.Equal([unlisted], lost.Select(s => s.Id));
        Assert.Equal(SessionStatus.Running, (await _store.FindAsync(fresh, CancellationToken.None))!.Status);
    }

    [Fact]
    public async Task A_silent_host_is_marked_dead_once_and_gets_no_work()
    {
        await BeatAsync();
        await BeatAsync("host-b", "b-p");
        var id = await SubmitAsync();
        await _store.ClaimAsync(Host, Instance, 1, CancellationToken.None);
        Time.Advance(TimeSpan.FromSeconds(20));
        await BeatAsync("host-b", "b-p");

        Assert.Equal([Host], await _store.MarkDeadAsync(Time.GetUtcNow() - TimeSpan.FromSeconds(15), CancellationToken.None));
        Assert.Empty(await _store.MarkDeadAsync(Time.GetUtcNow() - TimeSpan.FromSeconds(15), CancellationToken.None));
        Assert.Equal([id], (await _store.EndRunsAsync(Host, null, Result(RunStatus.InternalError), CancellationToken.None)).Select(s => s.Id));
        await SubmitAsync();
        Assert.Empty((await _store.ClaimAsync(Host, Instance, 1, CancellationToken.None)).Sessions);
        var hosts = await _store.ListHostsAsync(CancellationToken.None);
        Assert.Equal([(Host, HostStates.Dead), ("host-b", HostStates.Alive)], hosts.Select(h => (h.Id, h.State)));
        Assert.Equal(new PoolStatus(2, 2, 0, 64), hosts[1].Pool);
        await BeatAsync(); // back: alive again
        Assert.Equal(HostStates.Alive, (await _store.ListHostsAsync(CancellationToken.None)).Single(h => h.Id == Host).State);
    }

    [Fact]
    public async Task Sessions_past_their_retention_are_purged_with_their_files()
    {
        await BeatAsync();
        var old = await SubmitAsync();
        await _store.CompleteAsync(old, Result(RunStatus.Cancelled), null, CancellationToken.None);
        Time.Advance(TimeSpan.FromHours(25));
        var recent = await SubmitAsync();
        await _store.CompleteAsync(recent, Result(RunStatus.Cancelled), null, CancellationToken.None);
        var unfinished = await SubmitAsync();

        Assert.Equal(1, await _store.PurgeAsync(Time.GetUtcNow() - TimeSpan.FromHours(24), CancellationToken.None));

        Assert.Null(await _store.FindAsync(old, CancellationToken.None));
        Assert.Empty((await _store.LoadFilesAsync([old], CancellationToken.None))[old]);
        Assert.NotNull(await _store.FindAsync(recent, CancellationToken.None));
        Assert.NotNull(await _store.FindAsync(unfinished, CancellationToken.None));
    }

    [Fact]
    public async Task Each_prewarm_request_has_a_new_generation()
    {
        Assert.Null(await _store.LatestPrewarmAsync(CancellationToken.None));

        var first = await _store.RequestPrewarmAsync(null, CancellationToken.None);
        var second = await _store.RequestPrewarmAsync(8, CancellationToken.None);

        Assert.True(second > first);
        Assert.Equal(new PrewarmCommand(second, 8), await _store.LatestPrewarmAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Initializing_again_changes_nothing()
    {
        var id = await SubmitAsync();

        await _store.InitializeAsync(CancellationToken.None);

        Assert.NotNull(await _store.FindAsync(id, CancellationToken.None));
    }

    [Fact]
    public async Task The_files_a_run_hands_back_are_kept_apart_from_its_result_and_purged_with_the_session()
    {
        var id = await SubmitAsync();
        await BeatAsync();
        await _store.ClaimAsync(Host, Instance, 1, CancellationToken.None);
        byte[] png = [0x89, (byte)'P', (byte)'N', (byte)'G', 0, 255];
        var result = Result() with
        {
            Files = [new RunOutputFile("plot.png", png.Length, "abc", "image/png") { Content = png }, new RunOutputFile("data/x.csv", 0, "e3b0", "text/csv") { Content = [] }],
            DroppedFiles = [new DroppedFile("big.bin", 9_000_000, "size_limit")],
        };

        var ended = await _store.CompleteAsync(id, result, Host, CancellationToken.None);

        Assert.Equal(["plot.png", "data/x.csv"], ended!.Result!.Files!.Select(f => f.Path));
        Assert.All(ended.Result.Files!, f => Assert.Null(f.Content)); // the result holds the list, not the bytes
        Assert.Equal("size_limit", Assert.Single(ended.Result.DroppedFiles!).Reason);
        Assert.Equal(png, await _store.ReadResultFileAsync(id, "plot.png", CancellationToken.None));
        Assert.Empty((await _store.ReadResultFileAsync(id, "data/x.csv", CancellationToken.None))!);
        Assert.Null(await _store.ReadResultFileAsync(id, "other.png", CancellationToken.None));

        // A second result does not count, and brings no files.
        Assert.Null(await _store.CompleteAsync(id, result with { Files = [new RunOutputFile("late.txt", 1, "x", "text/plain") { Content = [1] }] }, Host, CancellationToken.None));
        Assert.Null(await _store.ReadResultFileAsync(id, "late.txt", CancellationToken.None));

        Time.Advance(TimeSpan.FromHours(25));
        await _store.PurgeAsync(Time.GetUtcNow() - TimeSpan.FromHours(24), CancellationToken.None);
        Assert.Null(await _store.ReadResultFileAsync(id, "plot.png", CancellationToken.None));
    }

    [Fact]
    public async Task A_read_that_sees_the_input_s_end_sees_all_the_input_written_before_it()
    {
        // A client writes and closes while the runner host polls: whenever a read shows the end, it must show every
        // byte, never an end without its input (the script would read end of file and lose what was sent).
        for (var round = 0; round < 20; round++)
        {
            var id = await SubmitAsync(interactive: true);
            var writer = Task.Run(async () =>
            {
                for (var i = 0; i < 5; i++)
                {
                    Assert.Equal(StdinAppend.Appended, await _store.AppendStdinAsync(id, [(byte)('a' + i)], 1024, CancellationToken.None));
                }
                await _store.CloseStdinAsync(id, CancellationToken.None);
            });
            while (true)
            {
                var read = await _store.ReadStdinAsync(id, 0, CancellationToken.None);
                if (read.ClosedAt is not null)
                {
                    Assert.Equal("abcde", Encoding.UTF8.GetString([.. read.Chunks.SelectMany(c => c.Data)]));
                    break;
                }
            }
            await writer;
        }
    }

    [Fact]
    public async Task Ten_thousand_one_byte_messages_of_a_client_become_a_few_rows_read_in_order()
    {
        // A client sending a byte per WebSocket message: its input reaches the store coalesced (a write per 20 ms at
        // most), not a write per byte under the store's one writer.
        var id = await SubmitAsync(interactive: true);
        var outcomes = new List<StdinAppend>();
        var writer = new StdinWriter(_store, id, 1024 * 1024, TimeProvider.System, outcome =>
        {
            lock (outcomes)
            {
                outcomes.Add(outcome);
            }
            return Task.CompletedTask;
        });
        var sent = new byte[10_000];
        for (var i = 0; i < sent.Length; i++)
        {
            sent[i] = (byte)('a' + (i % 26));
            Assert.True(await writer.WriteAsync([sent[i]], CancellationToken.None));
        }
        await writer.CompleteAsync();
        Assert.True(await _store.CloseStdinAsync(id, CancellationToken.None));

        var read = await _store.ReadStdinAsync(id, 0, CancellationToken.None);
        Assert.Equal(sent, read.Chunks.SelectMany(c => c.Data).ToArray());
        Assert.InRange(read.Chunks.Count, 1, 100);
        Assert.Equal(read.Chunks.Count, outcomes.Count);
        Assert.All(outcomes, o => Assert.Equal(StdinAppend.Appended, o));
        Assert.False(await writer.WriteAsync([1], CancellationToken.None)); // completed: it takes no more
    }

    [Fact]
    public async Task Coalesced_input_that_passes_the_limit_keeps_the_messages_within_it()
    {
        var id = await SubmitAsync(interactive: true);
        var outcomes = new List<StdinAppend>();
        var writer = new StdinWriter(_store, id, 5, TimeProvider.System, outcome =>
        {
            lock (outcomes)
            {
                outcomes.Add(outcome);
            }
            return Task.CompletedTask;
        });
        foreach (var message in new[] { "ab", "cd", "ef", "gh" })
        {
            await writer.WriteAsync(Encoding.UTF8.GetBytes(message), CancellationToken.None);
        }
        await writer.CompleteAsync();

        var read = await _store.ReadStdinAsync(id, 0, CancellationToken.None);
        Assert.Equal("abcd", Encoding.UTF8.GetString([.. read.Chunks.SelectMany(c => c.Data)]));
        Assert.Equal(StdinAppend.OverLimit, outcomes[^1]);
    }

    [Fact]
    public async Task Interactive_input_is_appended_in_order_up_to_its_limit_and_ends_once()
    {
        var id = await SubmitAsync(interactive: true);

        Assert.Equal(StdinAppend.Appended, await _store.AppendStdinAsync(id, "ab"u8.ToArray(), 5, CancellationToken.None));
        Assert.Equal(StdinAppend.Appended, await _store.AppendStdinAsync(id, "cd"u8.ToArray(), 5, CancellationToken.None));
        Assert.Equal(StdinAppend.OverLimit, await _store.AppendStdinAsync(id, "ef"u8.ToArray(), 5, CancellationToken.None));
        var read = await _store.ReadStdinAsync(id, 1, CancellationToken.None);
        Assert.Equal([(0L, "ab"), (2L, "cd")], read.Chunks.Select(c => (c.Offset, Encoding.UTF8.GetString(c.Data))));
        Assert.Null(read.ClosedAt);
        Assert.Null(read.AttachedAt);
        Assert.Equal(SessionStatus.Queued, read.Status);

        Assert.True(await _store.MarkStdinAttachedAsync(id, CancellationToken.None));
        Assert.False(await _store.MarkStdinAttachedAsync(id, CancellationToken.None));
        Assert.True(await _store.CloseStdinAsync(id, CancellationToken.None));
        Assert.False(await _store.CloseStdinAsync(id, CancellationToken.None));
        Assert.Equal(StdinAppend.Closed, await _store.AppendStdinAsync(id, "g"u8.ToArray(), 5, CancellationToken.None));
        read = await _store.ReadStdinAsync(id, 4, CancellationToken.None);
        Assert.Empty(read.Chunks);
        Assert.NotNull(read.ClosedAt);
        Assert.NotNull(read.AttachedAt);

        // A session that is not interactive takes no input at all.
        var batch = await SubmitAsync();
        Assert.Equal(StdinAppend.Closed, await _store.AppendStdinAsync(batch, "x"u8.ToArray(), 5, CancellationToken.None));
    }

    [Fact]
    public async Task A_callback_is_due_once_its_session_ends_and_is_leased_to_one_deliverer_at_a_time()
    {
        var id = await SubmitAsync(callback: "https://example.test/hook");
        Assert.Empty(await _store.LeaseDueCallbacksAsync(10, 4, [], TimeSpan.FromSeconds(20), CancellationToken.None)); // still queued
        Assert.Null(await _store.NextCallbackDueAsync([], CancellationToken.None));

        await BeatAsync();
        await _store.ClaimAsync(Host, Instance, 1, CancellationToken.None);
        await _store.CompleteAsync(id, Result(), Host, CancellationToken.None);

        var leased = Assert.Single(await _store.LeaseDueCallbacksAsync(10, 4, [], TimeSpan.FromSeconds(20), CancellationToken.None));
        Assert.Equal((id, "https://example.test/hook", 1), (leased.SessionId, leased.Url, leased.Attempts));
        Assert.Empty(await _store.LeaseDueCallbacksAsync(10, 4, [], TimeSpan.FromSeconds(20), CancellationToken.None)); // leased

        await _store.RecordCallbackAsync(id, delivered: false, Time.GetUtcNow() + TimeSpan.FromSeconds(2), "HTTP 500", CancellationToken.None);
        Assert.Empty(await _store.LeaseDueCallbacksAsync(10, 4, [], TimeSpan.FromSeconds(20), CancellationToken.None)); // not due yet
        Assert.Equal(Time.GetUtcNow() + TimeSpan.FromSeconds(2), await _store.NextCallbackDueAsync([], CancellationToken.None));
        Time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(2, Assert.Single(await _store.LeaseDueCallbacksAsync(10, 4, [], TimeSpan.FromSeconds(20), CancellationToken.None)).Attempts);

        // A deliverer that died: its lease runs out, and the callback is due again.
        Time.Advance(TimeSpan.FromSeconds(21));
        Assert.Equal(3, Assert.Single(await _store.LeaseDueCallbacksAsync(10, 4, [], TimeSpan.FromSeconds(20), CancellationToken.None)).Attempts);

        await _store.RecordCallbackAsync(id, delivered: true, null, null, CancellationToken.None);
        var delivered = await _store.FindCallbackAsync(id, CancellationToken.None);
        Assert.Equal((CallbackStates.Delivered, 3), (delivered!.State, delivered.Attempts));
        Assert.NotNull(delivered.DeliveredAt);
        Assert.Null(await _store.NextCallbackDueAsync([], CancellationToken.None));

        var givenUp = await SubmitAsync(callback: "https://example.test/other");
        await _store.ClaimAsync(Host, Instance, 1, CancellationToken.None);
        await _store.CompleteAsync(givenUp, Result(), Host, CancellationToken.None);
        Assert.Single(await _store.LeaseDueCallbacksAsync(10, 4, [], TimeSpan.FromSeconds(20), CancellationToken.None));
        await _store.RecordCallbackAsync(givenUp, delivered: false, null, "HTTP 404", CancellationToken.None);
        Assert.Equal((CallbackStates.Failed, "HTTP 404"), (await _store.FindCallbackAsync(givenUp, CancellationToken.None) is { } f ? (f.State, f.LastError) : default));
        Assert.Empty(await _store.LeaseDueCallbacksAsync(10, 4, [], TimeSpan.FromSeconds(20), CancellationToken.None));
    }

    [Fact]
    public async Task Callbacks_are_leased_a_few_per_receiver_and_none_to_a_busy_one()
    {
        await BeatAsync();
        var slow = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            slow.Add(await SubmitAsync(callback: "http://slow.example:8080/hook"));
        }
        var other = await SubmitAsync(callback: "https://other.example/hook");
        await _store.ClaimAsync(Host, Instance, 10, CancellationToken.None);
        foreach (var id in slow.Append(other))
        {
            await _store.CompleteAsync(id, Result(), Host, CancellationToken.None);
        }

        // Two per receiver at most: the slow receiver's five never fill the lease, the other receiver's one is in it.
        var first = await _store.LeaseDueCallbacksAsync(10, 2, [], TimeSpan.FromSeconds(20), CancellationToken.None);
        Assert.Equal(new[] { slow[0], slow[1], other }.Order(StringComparer.Ordinal), first.Select(c => c.SessionId).Order(StringComparer.Ordinal));
        Assert.Equal(["http://slow.example:8080", "https://other.example:443"],
            first.Select(c => c.Destination).Distinct().Order(StringComparer.Ordinal));

        // A receiver with as many in flight as it may have gets nothing more, and its due callbacks wake no one.
        Assert.Empty(await _store.LeaseDueCallbacksAsync(10, 2, ["http://slow.example:8080"], TimeSpan.FromSeconds(20), CancellationToken.None));
        Assert.Equal(Time.GetUtcNow() + TimeSpan.FromSeconds(20), await _store.NextCallbackDueAsync(["http://slow.example:8080"], CancellationToken.None));
        Assert.Equal(2, (await _store.LeaseDueCallbacksAsync(10, 2, [], TimeSpan.FromSeconds(20), CancellationToken.None)).Count);
    }

    [Fact]
    public async Task Submissions_at_once_never_pass_their_owner_s_limit_of_unfinished_sessions()
    {
        const int Limit = 3;
        var results = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => Task.Run(() => _store.CreateAsync(
            new NewSession(SessionIds.New(), "main.py", [new SessionFile("main.py", [1])], RunOptions.None, null, "racer", 1) { MaxUnfinished = Limit },
            QueueCapacity, CancellationToken.None))));

        Assert.Equal(Limit, results.Count(r => r == SessionAdmission.Created));
        Assert.All(results.Where(r => r != SessionAdmission.Created), r => Assert.Equal(SessionAdmission.OwnerUnfinished, r));
        Assert.Equal((Limit, 0), await _store.CountUnfinishedAsync("racer", CancellationToken.None));
        // Another owner is not held by this one's limit.
        Assert.Equal(SessionAdmission.Created, await _store.CreateAsync(
            new NewSession(SessionIds.New(), "main.py", [], RunOptions.None, null, "calm", 1) { MaxUnfinished = Limit }, QueueCapacity, CancellationToken.None));
    }

    [Fact]
    public async Task An_owner_over_its_storage_bound_is_refused_until_the_retention_frees_it()
    {
        await BeatAsync();
        NewSession Session(int bytes) =>
            new(SessionIds.New(), "main.py", [new SessionFile("main.py", new byte[bytes])], RunOptions.None, null, "hoarder") { MaxStoredBytes = 10_000 };
        var first = Session(6_000);
        Assert.Equal(SessionAdmission.Created, await _store.CreateAsync(first, QueueCapacity, CancellationToken.None));
        var stored = await _store.CountStoredBytesAsync("hoarder", CancellationToken.None);
        Assert.InRange(stored, 6_000, 6_500); // the file and its options

        // Output and a result count too: the bound covers everything a session holds.
        await _store.ClaimAsync(Host, Instance, 1, CancellationToken.None);
        await _store.AppendOutputAsync(first.Id, [new OutputChunk(true, 0, new byte[2_000])], CancellationToken.None);
        Assert.True(await _store.CountStoredBytesAsync("hoarder", CancellationToken.None) >= stored + 2_000);
        await _store.CompleteAsync(first.Id, Result(), Host, CancellationToken.None);

        Assert.Equal(SessionAdmission.OwnerStorage, await _store.CreateAsync(Session(3_000), QueueCapacity, CancellationToken.None));
        Assert.Equal(SessionAdmission.Created, await _store.CreateAsync(
            Session(3_000) with { Owner = "someone-else" }, QueueCapacity, CancellationToken.None));

        Time.Advance(TimeSpan.FromHours(25));
        await _store.PurgeAsync(Time.GetUtcNow() - TimeSpan.FromHours(24), CancellationToken.None);

        Assert.Equal(0, await _store.CountStoredBytesAsync("hoarder", CancellationToken.None));
        Assert.Equal(SessionAdmission.Created, await _store.CreateAsync(Session(3_000), QueueCapacity, CancellationToken.None));
    }
}
