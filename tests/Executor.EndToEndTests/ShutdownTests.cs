using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace Executor.EndToEndTests;

[CollectionDefinition(Name)]
public sealed class ShutdownCollection
{
    public const string Name = "5 shutdown";
}

/// <summary>A stack of one test's own, which the test stops.</summary>
public sealed class ShutdownStackFixture(string deployment) : StackFixture
{
    public override string Deployment => deployment;

    protected override int DataPoolSize => 0;
}

/// <summary>
/// A graceful stop leaves nothing behind: every container the stopped service owns or has leased is removed before
/// it exits, including those it is still creating, however many there are.
/// </summary>
[Collection(ShutdownCollection.Name)]
public sealed class ShutdownTests
{
    private const int Filling = 64;

    [Fact]
    public async Task Stopping_the_whole_stack_while_the_pool_fills_towards_64_leaves_no_container()
    {
        var stack = new ShutdownStackFixture("tests-stop-all");
        var since = DateTimeOffset.UtcNow;
        await stack.InitializeAsync();
        try
        {
            await FillTowardsAsync(stack);
            await stack.Gateway.RunAsync("print('a run before the stop')\n");

            // As Ctrl+C on ./run.sh does: the orchestrator stops every service (SIGTERM, a few seconds' grace).
            var stopping = DateTimeOffset.UtcNow;
            await stack.App.StopAsync();

            await AssertNoneLeftAsync(since, await stack.ContainersAsync(), $"the stop ran from {stopping:HH:mm:ss.fff} to {DateTimeOffset.UtcNow:HH:mm:ss.fff}");
        }
        finally
        {
            await stack.DisposeAsync();
        }
    }

    [Fact]
    public async Task Stopping_the_pool_while_it_fills_towards_64_removes_every_container_it_holds()
    {
        var stack = new ShutdownStackFixture("tests-stop-pool");
        var since = DateTimeOffset.UtcNow;
        await stack.InitializeAsync();
        try
        {
            await FillTowardsAsync(stack);
            // The runner's slots hold their leased name (it renames what it leases, shortly after): from here on a
            // container under a pool name is the pool's.
            await ExecutorApi.WaitUntilAsync(async () =>
            {
                var state = await stack.Runner.GetFromJsonAsync<JsonElement>("/state");
                var target = state.GetProperty("slots_target").GetInt32();
                var leased = (await stack.ContainersAsync()).Count(c => c.Names.Any(n => n.StartsWith("/executor-leased-", StringComparison.Ordinal)));
                return state.GetProperty("slots_ready").GetInt32() == target && leased >= target;
            }, "the runner's slots are filled and renamed");
            var pool = await stack.Prewarm.GetFromJsonAsync<JsonElement>("/pool");
            using var process = Process.GetProcessById(pool.GetProperty("pid").GetInt32());

            var stopping = DateTimeOffset.UtcNow;
            await Shell.RunAsync($"kill -TERM {process.Id}");
            Assert.True(process.WaitForExit(30_000), "PrewarmService did not stop within 30 s of SIGTERM");

            // What is left is the runner's: its attached slots, leased before the stop.
            var left = (await stack.ContainersAsync()).Where(c => c.Names.Any(n => n.StartsWith("/executor-pool-", StringComparison.Ordinal)));
            await AssertNoneLeftAsync(since, [.. left], $"SIGTERM at {stopping:HH:mm:ss.fff}");
        }
        finally
        {
            await stack.DisposeAsync();
        }
    }

    /// <summary>
    /// Asks for 64 warm containers and returns once 8 are ready while the pool is still starting more. The pool starts
    /// two at a time; on a loaded CI machine (other collections' stacks running) 16 ready took over a minute once.
    /// </summary>
    private static async Task FillTowardsAsync(StackFixture stack)
    {
        using var resized = await stack.Operator.PostAsync($"/prewarm?count={Filling}", null);
        resized.EnsureSuccessStatusCode();
        await ExecutorApi.WaitUntilAsync(async () =>
        {
            var pool = await stack.Prewarm.GetFromJsonAsync<JsonElement>("/pool");
            return pool.GetProperty("ready").GetInt32() >= 8 && pool.GetProperty("starting").GetInt32() > 0;
        }, "the pool holds 8 ready and is still starting more", TimeSpan.FromMinutes(3));
    }

    /// <summary>
    /// Fails with each container left and what the engine recorded of it (created, renamed, killed, removal begun...):
    /// the services' own logs end with the stop, and the engine's events tell who did what to it, and when.
    /// </summary>
    private static async Task AssertNoneLeftAsync(
        DateTimeOffset since, IList<Docker.DotNet.Models.ContainerListResponse> left, string stop)
    {
        if (left.Count == 0)
        {
            return;
        }
        var described = new List<string>();
        foreach (var container in left)
        {
            var events = await Shell.RunAsync(
                $"docker events --since {since.ToUnixTimeSeconds()} --until {DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1} --filter container={container.ID}");
            described.Add($"{container.Names.FirstOrDefault()} ({container.State}, {container.Status}); its events:\n{events}");
        }
        Assert.Fail($"{left.Count} container(s) left after the stop ({stop}):\n{string.Join("\n", described)}");
    }
}
