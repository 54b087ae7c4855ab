using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;

namespace Executor.EndToEndTests;

/// <summary>
/// A stack of its own for fault tests: one run at a time (so sessions queue), quick orphan sweeps, and a private Docker
/// engine that the tests may stop and start without touching the machine's.
/// </summary>
public sealed class FaultStackFixture : StackFixture
{
    private PrivateDockerEngine? _engine;

    public PrivateDockerEngine Engine => _engine ?? throw new InvalidOperationException("The engine has not started");

    public override string Deployment => "tests-faults";

    protected override string DockerEndpoint => Engine.Endpoint;

    protected override IEnumerable<string> ExtraArguments => ["--Executor:MaxConcurrentRuns=1", "--Executor:ReapIntervalSeconds=3"];

    protected override int DataPoolSize => 0;

    public override async Task InitializeAsync()
    {
        _engine = await PrivateDockerEngine.StartAsync("faults", RuntimeImages.All);
        await base.InitializeAsync();
    }

    public override async Task DisposeAsync()
    {
        try
        {
            await base.DisposeAsync();
        }
        finally
        {
            await Engine.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class FaultCollection : ICollectionFixture<FaultStackFixture>
{
    public const string Name = "3 faults";
}

/// <summary>
/// Processes killed, services restarted, the engine stopped: every session still ends in a terminal status, nothing
/// accepted is lost, no container is left behind, and service resumes without anyone restarting anything by hand.
/// </summary>
[Collection(FaultCollection.Name)]
public sealed class FaultTests(FaultStackFixture stack) : IAsyncLifetime
{
    /// <summary>
    /// Each test starts from a healthy stack, whatever the one before it left: a service it stopped and could not
    /// bring back is started again here (cheaper than a stack per test, ~30 s each), so one failure stays one failure.
    /// </summary>
    public async Task InitializeAsync()
    {
        foreach (var resource in new[] { "session", "prewarm", "runner", "gateway" })
        {
            if (stack.App.ResourceNotifications.TryGetCurrentState(resource, out var current)
                && current.Snapshot.State?.Text is "Exited" or "Finished" or "FailedToStart")
            {
                await RunCommandAsync(resource, KnownResourceCommands.StartCommand);
            }
            await stack.WaitHealthyAsync(resource);
        }
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private async Task RunCommandAsync(string resource, string command)
    {
        var result = await stack.App.Services.GetRequiredService<ResourceCommandService>().ExecuteCommandAsync(resource, command);
        Assert.True(result.Success, $"{command} on {resource} failed: {result.Message}");
    }

    private async Task<string> StateOfAsync(string sessionId)
    {
        using var response = await stack.Gateway.GetAsync($"/result/{sessionId}");
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return response.StatusCode == HttpStatusCode.Accepted ? body.GetProperty("state").GetString()! : body.GetProperty("status").GetString()!;
    }

    /// <summary>
    /// Stops SessionService gracefully (SIGTERM, as an orchestrator does) and starts it again. The process is found by
    /// its database path, which is this stack's own.
    /// </summary>
    private async Task RestartSessionServiceAsync()
    {
        var marker = "Sessions__DatabasePath=" + Path.Combine(stack.DataDirectory, "sessions.db");
        var pid = Process.GetProcessesByName("SessionService").Single(p => EnvironmentOf(p.Id).Contains(marker)).Id;
        using (var process = Process.GetProcessById(pid))
        {
            await Shell.RunAsync($"kill -TERM {pid}");
            Assert.True(process.WaitForExit(30_000), "SessionService did not stop within 30 s of SIGTERM");
        }
        await StartAgainAsync("session");
    }

    /// <summary>A process's environment; empty for one that ended meanwhile (another stack's, on a shared machine).</summary>
    private static string[] EnvironmentOf(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/environ").Split('\0');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>Starts a resource whose process has ended, once the orchestrator has seen it end.</summary>
    private async Task StartAgainAsync(string resource)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await stack.App.ResourceNotifications.WaitForResourceAsync(resource,
            e => e.Snapshot.State?.Text is "Exited" or "Finished" or "FailedToStart", timeout.Token);
        await RunCommandAsync(resource, KnownResourceCommands.StartCommand);
        await stack.WaitHealthyAsync(resource);
    }

    private static void Kill(int pid)
    {
        using var process = Process.GetProcessById(pid);
        process.Kill(entireProcessTree: true); // SIGKILL: no graceful shutdown, nothing cleaned up
        process.WaitForExit(10_000);
    }

    private async Task AssertServesAsync()
    {
        var result = await stack.Gateway.RunAsync("print('still serving')\n");
        Assert.True(result.GetProperty("logs").GetString() == "still serving\n", $"the run after recovery: {result}");
    }

    [Fact]
    public async Task A_callback_that_failed_before_SessionService_restarts_is_delivered_after_it()
    {
        using var receiver = CallbackReceiver.Start();
        receiver.Failing = true;
        var sessionId = await stack.Gateway.SubmitAsync("print('outlived a restart')\n", ("callback_url", receiver.Url));
        await receiver.WaitForAsync(d => d.Headers["X-Executor-Session"] == sessionId, TimeSpan.FromSeconds(60)); // a first attempt, failed

        await RestartSessionServiceAsync();
        var restarted = DateTimeOffset.UtcNow;
        receiver.Failing = false;

        var delivered = await receiver.WaitForAsync(d => d.AnsweredWith == 200, TimeSpan.FromSeconds(120));
        Assert.True(delivered.At >= restarted, "delivered by the restarted service, from the outbox it left in the store");
        Assert.Equal(sessionId, delivered.Headers["X-Executor-Session"]);
        Assert.True(int.Parse(delivered.Headers["X-Executor-Attempt"]) >= 2);
        CallbackReceiver.AssertSigned(delivered);
        Assert.Equal("outlived a restart\n", JsonDocument.Parse(delivered.Body).RootElement.GetProperty("logs").GetString());
    }

    [Fact]
    public async Task Finished_running_and_queued_sessions_all_answer_correctly_after_SessionService_restarts()
    {
        var finished = await stack.Gateway.SubmitAsync("print('finished before')\n");
        await stack.Gateway.WaitForResultAsync(finished);
        var running = await stack.Gateway.SubmitAsync("import time\ntime.sleep(4)\nprint('ran through the restart')\n");
        await ExecutorApi.WaitUntilAsync(async () => await StateOfAsync(running) == "running", "the long session runs");
        var queued = await stack.Gateway.SubmitAsync("print('waited through the restart')\n");
        Assert.Equal("queued", await StateOfAsync(queued));

        await RestartSessionServiceAsync();

        Assert.Equal("finished before\n", (await stack.Gateway.WaitForResultAsync(finished)).GetProperty("logs").GetString());
        var joined = await stack.Gateway.WaitForResultAsync(running);
        Assert.True(joined.GetProperty("status").GetString() == "completed", $"the running session: {joined}");
        Assert.Equal("ran through the restart\n", joined.GetProperty("logs").GetString());
        Assert.Equal("waited through the restart\n", (await stack.Gateway.WaitForResultAsync(queued)).GetProperty("logs").GetString());
    }

    [Fact]
    public async Task A_runner_killed_during_a_run_ends_the_session_and_its_container_is_reaped()
    {
        var sessionId = await stack.Gateway.SubmitAsync("import time\ntime.sleep(60)\n");
        var containerId = await stack.Runner.WaitForContainerAsync(sessionId);
        var runner = await stack.Runner.GetFromJsonAsync<JsonElement>("/state");

        Kill(runner.GetProperty("pid").GetInt32());

        // While the runner is still down, its host's pool removes what was the runner's: the run's container and the
        // warm ones it had leased (nothing else would, until the runner starts again).
        await ExecutorApi.WaitUntilAsync(async () => !(await RunnersContainersAsync()).Any(),
            "the dead runner's containers are removed while it is down");
        Assert.False(await stack.ContainerExistsAsync(containerId));

        var result = await stack.Gateway.WaitForResultAsync(sessionId);
        Assert.Equal("internal_error", result.GetProperty("status").GetString());
        Assert.Contains("runner", result.GetProperty("detail").GetString(), StringComparison.Ordinal);

        await StartAgainAsync("runner");
        await AssertServesAsync();
    }

    /// <summary>The containers a runner answers for: cold ones, leased ones, and those running a session.</summary>
    private async Task<IEnumerable<string>> RunnersContainersAsync() =>
        (await stack.ContainersAsync())
            .Where(c => c.Labels.TryGetValue("executor.role", out var role) && role == "cold"
                || c.Names.Any(n => n.StartsWith("/executor-leased-", StringComparison.Ordinal) || n.StartsWith("/executor-run-", StringComparison.Ordinal)))
            .Select(c => c.ID);

    [Fact]
    public async Task A_killed_pool_leaves_containers_that_are_reaped_and_the_pool_refills()
    {
        await ExecutorApi.WaitUntilAsync(async () => (await stack.Prewarm.GetFromJsonAsync<JsonElement>("/pool")).GetProperty("ready").GetInt32() == StackFixture.PoolSize,
            "the pool is full");
        var pool = await stack.Prewarm.GetFromJsonAsync<JsonElement>("/pool");

        Kill(pool.GetProperty("pid").GetInt32());
        // Listed once the pool is dead: until then the runner may lease one (renamed, it is the runner's from then on).
        var left = (await stack.ContainersAsync())
            .Where(c => c.Names.Any(n => n.StartsWith("/executor-pool-", StringComparison.Ordinal))).Select(c => c.ID).ToList();
        Assert.NotEmpty(left);
        Assert.All(left, id => Assert.True(stack.ContainerExistsAsync(id).Result, "the pool's containers outlive it"));

        await StartAgainAsync("prewarm");
        foreach (var id in left)
        {
            await ExecutorApi.WaitUntilAsync(async () => !await stack.ContainerExistsAsync(id), $"the abandoned pool container {id[..12]} is reaped");
        }
        await ExecutorApi.WaitUntilAsync(async () => (await stack.Prewarm.GetFromJsonAsync<JsonElement>("/pool")).GetProperty("ready").GetInt32() == StackFixture.PoolSize,
            "the restarted pool refills");
        await AssertServesAsync();
    }

    [Fact]
    public async Task When_the_engine_goes_away_submissions_get_503_runs_end_and_service_resumes_when_it_returns()
    {
        var machineEngine = await MachineEnginePidAsync();
        // Its own timeout is longer than the engine takes to shut down, so the outage is what ends it.
        var running = await stack.Gateway.SubmitAsync("import time\ntime.sleep(60)\n", ("timeout_seconds", "60"));
        await stack.Runner.WaitForContainerAsync(running);
        try
        {
            await stack.Engine.StopAsync();

            using (var health = await stack.Runner.GetAsync("/health"))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
                Assert.Contains("Docker engine unreachable", await health.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }
            Assert.Equal("internal_error", (await stack.Gateway.WaitForResultAsync(running)).GetProperty("status").GetString());

            HttpResponseMessage? refused = null;
            await ExecutorApi.WaitUntilAsync(async () =>
            {
                refused?.Dispose();
                refused = await stack.Gateway.UploadAsync("print(1)\n");
                return refused.StatusCode == HttpStatusCode.ServiceUnavailable;
            }, "submissions are refused while the engine is away");
            Assert.Equal("application/problem+json", refused!.Content.Headers.ContentType?.MediaType);
            Assert.True(refused.Headers.RetryAfter is not null, "a 503 says when to retry");
            Assert.Equal("urn:executor:problem:engine-unavailable", (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString());
            refused.Dispose();
        }
        finally
        {
            await stack.Engine.StartAsync();
        }

        await stack.WaitHealthyAsync("runner");
        await ExecutorApi.WaitUntilAsync(async () =>
        {
            using var response = await stack.Gateway.UploadAsync("print(1)\n");
            return response.StatusCode == HttpStatusCode.OK;
        }, "submissions are accepted again");
        await AssertServesAsync();
        await ExecutorApi.WaitUntilAsync(async () => (await stack.Prewarm.GetFromJsonAsync<JsonElement>("/pool")).GetProperty("ready").GetInt32() == StackFixture.PoolSize,
            "the pool refills with the engine back");
        Assert.Equal(machineEngine, await MachineEnginePidAsync());
    }

    /// <summary>The process serving the machine's engine: the suite never stops or restarts it.</summary>
    private static async Task<string> MachineEnginePidAsync() =>
        (await Shell.RunAsync("cat /var/run/docker.pid")).Trim();
}
