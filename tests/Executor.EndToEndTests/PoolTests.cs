using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Executor.EndToEndTests;

[Collection(StackCollection.Name)]
public sealed class PoolTests(StackFixture stack)
{
    private async Task<JsonElement> PoolAsync() => await stack.Prewarm.GetFromJsonAsync<JsonElement>("/pool");

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
        var pool = (await stack.ContainersAsync())
            .Where(c => c.Labels["executor.role"] == "pool" && c.Names.Any(n => n.StartsWith("/executor-pool-", StringComparison.Ordinal)))
            .ToList();
        Assert.Equal(StackFixture.PoolSize, pool.Count);
        Assert.All(pool, c => Assert.Equal("running", c.State));
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
            Assert.Equal(hitsBefore + 1, (await PoolAsync()).GetProperty("hits").GetInt64());
        }
        await WaitForFullPoolAsync();
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
}
