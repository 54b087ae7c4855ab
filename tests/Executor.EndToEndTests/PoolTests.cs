using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Executor.EndToEndTests;

[Collection(StackCollection.Name)]
public sealed class PoolTests(StackFixture stack)
{
    private async Task<JsonElement> PoolAsync() => await stack.Prewarm.GetFromJsonAsync<JsonElement>("/pool");

    private async Task<List<Docker.DotNet.Models.ContainerListResponse>> PoolContainersAsync() =>
        [.. (await stack.ContainersAsync())
            .Where(c => c.Labels["executor.role"] == "pool" && c.Labels["executor.runtime"] == "python-3.11"
                && c.Names.Any(n => n.StartsWith("/executor-pool-", StringComparison.Ordinal)))];

    private async Task WaitForFullPoolAsync() =>
        await ExecutorApi.WaitUntilAsync(async () => (await PoolAsync()).GetProperty("ready").GetInt32() == StackFixture.PoolSize,
            "the pool is full");

    [Fact]
    public async Task Prewarm_answers_as_the_seed_did_and_the_pool_refills()
    {
        using var response = await stack.Gateway.PostAsync("/prewarm", null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("prewarm triggered", body.GetProperty("status").GetString());
        await WaitForFullPoolAsync();
        // Leased containers are renamed shortly after their lease; once that settles, the pool-named ones are the pool.
        await ExecutorApi.WaitUntilAsync(async () => (await PoolContainersAsync()).Count == StackFixture.PoolSize,
            "the engine holds exactly the pool's containers under pool names");
        Assert.All(await PoolContainersAsync(), c => Assert.Equal("running", c.State));
    }

    [Fact]
    public async Task Executions_use_warm_containers_and_the_pool_refills_behind_them()
    {
        for (var i = 0; i < 3; i++)
        {
            await WaitForFullPoolAsync();
            var hitsBefore = (await PoolAsync()).GetProperty("hits").GetInt64();

            var result = await stack.Gateway.RunAsync($"print({i})\n");

            Assert.Equal($"{i}\n", result.GetProperty("logs").GetString());
            Assert.True(result.GetProperty("warm_start").GetBoolean(), "ran cold although the pool was full");
            // The runner replaces the container it used with a lease from the pool once the run is over.
            await ExecutorApi.WaitUntilAsync(async () => (await PoolAsync()).GetProperty("hits").GetInt64() >= hitsBefore + 1,
                "the runner leased a replacement from the pool");
        }
        await WaitForFullPoolAsync();
    }

    [Fact]
    public async Task Prewarm_with_a_count_resizes_the_pool_within_its_maximum()
    {
        try
        {
            using var resize = await stack.Operator.PostAsync("/prewarm?count=4", null);
            Assert.Equal(HttpStatusCode.OK, resize.StatusCode);
            Assert.Equal(4, (await resize.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("target").GetInt32());
            await ExecutorApi.WaitUntilAsync(async () => (await PoolAsync()).GetProperty("ready").GetInt32() == 4, "the pool holds 4");

            using var tooMany = await stack.Operator.PostAsync("/prewarm?count=100000", null);
            Assert.Equal(HttpStatusCode.BadRequest, tooMany.StatusCode);
            Assert.Equal("application/problem+json", tooMany.Content.Headers.ContentType?.MediaType);
        }
        finally
        {
            using var restore = await stack.Operator.PostAsync($"/prewarm?count={StackFixture.PoolSize}", null);
        }
        await ExecutorApi.WaitUntilAsync(async () => (await PoolAsync()).GetProperty("ready").GetInt32() == StackFixture.PoolSize,
            "the pool shrinks back to its size");
    }

    [Fact]
    public async Task Sequential_traffic_keeps_the_pool_small_and_it_shrinks_back_once_traffic_stops()
    {
        await WaitForFullPoolAsync();
        var state = await PoolAsync();
        // What the host can hold (cores, memory): demand never raises the target past it.
        var demandMax = state.GetProperty("max_demand").GetInt32();
        Assert.InRange(demandMax, 1, 2 * Environment.ProcessorCount);
        var bound = Math.Max(StackFixture.PoolSize, demandMax);
        var held = new List<int>();
        var onEngine = new List<int>();
        for (var i = 0; i < 60; i++)
        {
            var result = await stack.Gateway.RunAsync($"print({i})\n");
            Assert.Equal($"{i}\n", result.GetProperty("logs").GetString());
            var pool = await PoolAsync();
            held.Add(pool.GetProperty("ready").GetInt32() + pool.GetProperty("starting").GetInt32());
            onEngine.Add((await PoolContainersAsync()).Count); // with the leased ones not yet renamed
            await Task.Delay(100);
        }
        Assert.True(held.Max() <= bound,
            $"the pool held {held.Max()} containers (at most {bound} expected): {string.Join(' ', held)}; on the engine: {string.Join(' ', onEngine)}");

        // Traffic stopped: the pool goes back to its configured size (idle containers beyond it are removed).
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        var after = new List<int>();
        while (true)
        {
            after.Add((await PoolContainersAsync()).Count);
            if (after[^1] == StackFixture.PoolSize && (await PoolAsync()).GetProperty("target").GetInt32() == StackFixture.PoolSize)
            {
                break;
            }
            Assert.True(DateTime.UtcNow < deadline, $"the pool did not shrink back to {StackFixture.PoolSize} within 90 s: {string.Join(' ', after)}");
            await Task.Delay(1000);
        }
    }

    [Fact]
    public async Task A_warm_container_is_used_once_and_removed()
    {
        await WaitForFullPoolAsync();
        // Long enough to be seen running: the runner only reports a container while the run lasts.
        var sessionId = await stack.Gateway.SubmitAsync("import time\ntime.sleep(1)\nprint('once')\n");
        var containerId = await stack.Runner.WaitForContainerAsync(sessionId);

        var result = await stack.Gateway.WaitForResultAsync(sessionId);

        Assert.True(result.GetProperty("warm_start").GetBoolean());
        await ExecutorApi.WaitUntilAsync(async () => !await stack.ContainerExistsAsync(containerId), "the used warm container is removed");
    }

    [Fact]
    public async Task A_warm_container_that_dies_in_its_slot_is_dropped_and_replaced_before_a_run_can_take_it()
    {
        // The runner's attached slots: leased (renamed) warm containers whose stdin it holds open, waiting for a job.
        async Task<int> SlotsReadyAsync() => (await stack.Runner.GetFromJsonAsync<JsonElement>("/state")).GetProperty("slots_ready").GetInt32();
        async Task<List<string>> SlotContainersAsync() => [.. (await stack.ContainersAsync())
            .Where(c => c.State == "running" && c.Labels["executor.runtime"] == "python-3.11"
                && c.Names.Any(n => n.StartsWith("/executor-leased-", StringComparison.Ordinal)))
            .Select(c => c.ID)];
        var target = (await stack.Runner.GetFromJsonAsync<JsonElement>("/state")).GetProperty("slots_target").GetInt32();
        Assert.True(target > 0, "the stack keeps attached slots");
        await ExecutorApi.WaitUntilAsync(async () => await SlotsReadyAsync() == target && (await SlotContainersAsync()).Count == target, "the slots are filled");
        var dead = await SlotContainersAsync();

        // They die underneath the runner (an OOM kill, an engine hiccup). The engine ends their attach streams, the
        // runner sees it at once (a read waits on each slot) and fills the slots again with live containers.
        foreach (var id in dead)
        {
            await stack.Docker.Containers.KillContainerAsync(id, new Docker.DotNet.Models.ContainerKillParameters { Signal = "SIGKILL" });
        }
        await ExecutorApi.WaitUntilAsync(async () => await SlotsReadyAsync() == target && (await SlotContainersAsync()) is var live
            && live.Count == target && !live.Intersect(dead).Any(), "the dead slots are dropped and filled again");

        // So the runs after it are warm, never sent into a dead stream (where a job this large, 3 MiB of files, blocks
        // until the engine gives up on it, then fails with a broken pipe), and the dead containers are removed.
        var results = new List<JsonElement>();
        for (var i = 0; i < target; i++)
        {
            using var form = new MultipartFormDataContent();
            form.AddFile("main.py", $"import os\nprint('run {i}', sum(os.path.getsize(f'blob{{n}}.bin') for n in range(3)))\n");
            for (var n = 0; n < 3; n++)
            {
                form.AddFile($"blob{n}.bin", System.Security.Cryptography.RandomNumberGenerator.GetBytes(1024 * 1024));
            }
            results.Add(await stack.Gateway.WaitForResultAsync(await stack.Gateway.SubmitFormAsync(form)));
        }
        Assert.All(results.Select((r, i) => (r, i)), x => Assert.True(
            x.r.GetProperty("status").GetString() == "completed" && x.r.GetProperty("stdout").GetString() == $"run {x.i} {3 * 1024 * 1024}\n"
            && x.r.GetProperty("warm_start").GetBoolean(),
            $"run {x.i}: {x.r}"));
        await ExecutorApi.WaitUntilAsync(async () => !(await stack.ContainersAsync()).Any(c => dead.Contains(c.ID)), "the dead slots are removed");
    }
}
