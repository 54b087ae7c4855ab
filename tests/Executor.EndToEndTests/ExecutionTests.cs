using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Executor.EndToEndTests;

[Collection(StackCollection.Name)]
public sealed class ExecutionTests(StackFixture stack)
{
    [Fact]
    public async Task Execute_returns_logs_of_hello_world()
    {
        var result = await stack.Gateway.RunAsync("print(\"Hello from Python\")\n");

        Assert.Equal("Hello from Python\n", result.GetProperty("logs").GetString());
        Assert.Equal(0, result.GetProperty("exit_code").GetInt32());
        Assert.Equal("completed", result.GetProperty("status").GetString());
        Assert.Equal("Hello from Python\n", result.GetProperty("stdout").GetString());
        Assert.Equal("", result.GetProperty("stderr").GetString());
        Assert.True(result.GetProperty("duration_ms").GetDouble() > 0);
    }

    [Fact]
    public async Task Stderr_and_a_non_zero_exit_are_reported_separately_and_in_order()
    {
        var result = await stack.Gateway.RunAsync("""
            import sys
            print("to stdout")
            print("to stderr", file=sys.stderr)
            print("stdout again")
            sys.exit(3)
            """);

        Assert.Equal("failed", result.GetProperty("status").GetString());
        Assert.Equal(3, result.GetProperty("exit_code").GetInt32());
        Assert.Equal("to stdout\nstdout again\n", result.GetProperty("stdout").GetString());
        Assert.Equal("to stderr\n", result.GetProperty("stderr").GetString());
        Assert.Equal("to stdout\nto stderr\nstdout again\n", result.GetProperty("logs").GetString());
    }

    [Fact]
    public async Task An_uncaught_exception_fails_with_the_usual_traceback()
    {
        var result = await stack.Gateway.RunAsync("def f():\n    return 1 / 0\nf()\n");

        Assert.Equal("failed", result.GetProperty("status").GetString());
        Assert.Equal(1, result.GetProperty("exit_code").GetInt32());
        var stderr = result.GetProperty("stderr").GetString()!;
        Assert.StartsWith("Traceback (most recent call last):", stderr, StringComparison.Ordinal);
        Assert.Contains("ZeroDivisionError: division by zero", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("runpy", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_infinite_loop_ends_by_the_timeout_and_its_container_is_removed()
    {
        var sessionId = await stack.Gateway.SubmitAsync("while True:\n    pass\n");
        var containerId = await stack.Runner.WaitForContainerAsync(sessionId);

        var result = await stack.Gateway.WaitForResultAsync(sessionId);

        Assert.Equal("timed_out", result.GetProperty("status").GetString());
        Assert.Equal(9, result.GetProperty("signal").GetInt32());
        Assert.True(result.GetProperty("duration_ms").GetDouble() >= 9_000, "killed before the 10 s timeout");
        await ExecutorApi.WaitUntilAsync(async () => !await stack.ContainerExistsAsync(containerId), "the timed-out container is removed");
    }

    [Fact]
    public async Task Cleanup_stops_a_running_session_and_removes_its_container()
    {
        var sessionId = await stack.Gateway.SubmitAsync("import time\nprint('started', flush=True)\ntime.sleep(60)\n");
        var containerId = await stack.Runner.WaitForContainerAsync(sessionId);
        Assert.True(await stack.ContainerExistsAsync(containerId));

        using var cleanup = await stack.Gateway.PostAsync($"/cleanup/{sessionId}", null);

        Assert.Equal(HttpStatusCode.OK, cleanup.StatusCode);
        var body = await cleanup.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("cleaned up", body.GetProperty("status").GetString());
        Assert.False(await stack.ContainerExistsAsync(containerId), "cleanup answered before the container was removed");
        var result = await stack.Gateway.WaitForResultAsync(sessionId);
        Assert.Equal("cancelled", result.GetProperty("status").GetString());

        using var again = await stack.Gateway.PostAsync($"/cleanup/{sessionId}", null);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal("cleaned up", (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Cleanup_of_a_finished_session_keeps_its_result()
    {
        var sessionId = await stack.Gateway.SubmitAsync("print('done')\n");
        await stack.Gateway.WaitForResultAsync(sessionId);

        using var cleanup = await stack.Gateway.PostAsync($"/cleanup/{sessionId}", null);

        Assert.Equal(HttpStatusCode.OK, cleanup.StatusCode);
        var result = await stack.Gateway.WaitForResultAsync(sessionId);
        Assert.Equal("completed", result.GetProperty("status").GetString());
        Assert.Equal("done\n", result.GetProperty("logs").GetString());
    }
}
