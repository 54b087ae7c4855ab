using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Executor.EndToEndTests;

/// <summary>Stateful sandboxes under runc, through the gateway, on real containers of the stack's host.</summary>
[Collection(StackCollection.Name)]
public sealed class SandboxTests(StackFixture stack)
{
    [Fact]
    public async Task A_sandbox_keeps_variables_imports_and_files_between_calls_and_is_removed_when_deleted()
    {
        var sandbox = await stack.Gateway.CreateSandboxAsync();
        var id = sandbox.GetProperty("sandbox_id").GetString()!;
        var container = await stack.SandboxContainerAsync(id);
        Assert.True(await stack.ContainerExistsAsync(container));

        var first = await stack.Gateway.CallAsync(id, "import math\nx = 20\nopen('kept.txt', 'w').write('on disk')\nprint('set')");
        var second = await stack.Gateway.CallAsync(id, "x + math.floor(2.5)");
        var third = await stack.Gateway.CallAsync(id, "open('kept.txt').read()");

        Assert.Equal(("ok", "set\n", 1), (first.GetProperty("status").GetString(), first.GetProperty("stdout").GetString(), first.GetProperty("execution_count").GetInt32()));
        Assert.Equal("22", second.GetProperty("results")[0].GetProperty("text/plain").GetString());
        Assert.Equal(2, second.GetProperty("execution_count").GetInt32());
        Assert.Equal("'on disk'", third.GetProperty("results")[0].GetProperty("text/plain").GetString());
        Assert.Equal(3, (await stack.Gateway.GetFromJsonAsync<JsonElement>($"/sandboxes/{id}")).GetProperty("executions").GetInt32());

        using (var deleted = await stack.Gateway.DeleteAsync($"/sandboxes/{id}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }
        await ExecutorApi.WaitUntilAsync(async () => !await stack.ContainerExistsAsync(container), "the deleted sandbox's container is removed");
        using var late = await stack.Gateway.PostAsJsonAsync($"/sandboxes/{id}/run", new { code = "x" });
        Assert.Equal(HttpStatusCode.Gone, late.StatusCode);
    }

    [Fact]
    public async Task Contexts_are_namespaces_of_their_own_env_holds_for_one_call_and_home_user_is_the_working_directory()
    {
        var id = (await stack.Gateway.CreateSandboxAsync()).GetProperty("sandbox_id").GetString()!;
        try
        {
            await stack.Gateway.CallAsync(id, "x = 'main'\nopen('/home/user/note.txt', 'w').write('by path')");
            var other = await stack.Gateway.CallAsync(id, "x", new { context = "other" });
            await stack.Gateway.CallAsync(id, "x = 'other'", new { context = "other" });
            var main = await stack.Gateway.CallAsync(id, "x, open('note.txt').read()");
            var env = await stack.Gateway.CallAsync(id, "import os\nos.environ['SECRET']", new { env = new Dictionary<string, string> { ["SECRET"] = "for one call" } });
            var after = await stack.Gateway.CallAsync(id, "'SECRET' in os.environ");

            Assert.Equal("NameError", other.GetProperty("error").GetProperty("name").GetString());
            Assert.Equal("('main', 'by path')", main.GetProperty("results")[0].GetProperty("text/plain").GetString());
            Assert.Equal("'for one call'", env.GetProperty("results")[0].GetProperty("text/plain").GetString());
            Assert.Equal("False", after.GetProperty("results")[0].GetProperty("text/plain").GetString());
        }
        finally
        {
            await stack.Gateway.DeleteAsync($"/sandboxes/{id}");
        }
    }

    [Fact]
    public async Task An_error_comes_back_with_its_traceback_and_leaves_the_namespace_intact_and_input_reads_the_calls_stdin()
    {
        var id = (await stack.Gateway.CreateSandboxAsync()).GetProperty("sandbox_id").GetString()!;
        try
        {
            await stack.Gateway.CallAsync(id, "y = 5");
            var failed = await stack.Gateway.CallAsync(id, "def boom():\n    return 1 / 0\nboom()");
            var after = await stack.Gateway.CallAsync(id, "y * 2");
            var input = await stack.Gateway.CallAsync(id, "name = input()\nprint('hello', name)", new { stdin = "Ada\n" });

            Assert.Equal("error", failed.GetProperty("status").GetString());
            var error = failed.GetProperty("error");
            Assert.Equal(("ZeroDivisionError", "division by zero"), (error.GetProperty("name").GetString(), error.GetProperty("value").GetString()));
            var traceback = string.Join("\n", error.GetProperty("traceback").EnumerateArray().Select(l => l.GetString()));
            Assert.Contains("boom", traceback, StringComparison.Ordinal);
            Assert.DoesNotContain("launcher", traceback, StringComparison.Ordinal);
            Assert.Equal("10", after.GetProperty("results")[0].GetProperty("text/plain").GetString());
            Assert.Equal("hello Ada\n", input.GetProperty("stdout").GetString());
        }
        finally
        {
            await stack.Gateway.DeleteAsync($"/sandboxes/{id}");
        }
    }

    [Fact]
    public async Task An_endless_loop_is_interrupted_the_namespace_survives_and_a_restart_empties_it()
    {
        var id = (await stack.Gateway.CreateSandboxAsync()).GetProperty("sandbox_id").GetString()!;
        try
        {
            await stack.Gateway.CallAsync(id, "kept = 'still here'");
            var loop = stack.Gateway.CallAsync(id, "while True:\n    pass");
            await ExecutorApi.WaitUntilAsync(async () =>
            {
                using var interrupt = await stack.Gateway.PostAsync($"/sandboxes/{id}/interrupt", null);
                return (await interrupt.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("interrupted").GetBoolean();
            }, "the loop is running and interrupted");
            var interrupted = await loop;
            Assert.Equal("interrupted", interrupted.GetProperty("status").GetString());
            Assert.Equal("KeyboardInterrupt", interrupted.GetProperty("error").GetProperty("name").GetString());
            Assert.Equal("'still here'", (await stack.Gateway.CallAsync(id, "kept")).GetProperty("results")[0].GetProperty("text/plain").GetString());

            var timedOut = await stack.Gateway.CallAsync(id, "import time\nwhile True:\n    time.sleep(0.01)", new { timeout_seconds = 1 });
            Assert.Equal("timed_out", timedOut.GetProperty("status").GetString());

            using (var restarted = await stack.Gateway.PostAsync($"/sandboxes/{id}/restart", null))
            {
                Assert.Equal(HttpStatusCode.OK, restarted.StatusCode);
            }
            var gone = await stack.Gateway.CallAsync(id, "kept");
            Assert.Equal(("error", "NameError"), (gone.GetProperty("status").GetString(), gone.GetProperty("error").GetProperty("name").GetString()));
            Assert.Equal(1, gone.GetProperty("execution_count").GetInt32());
        }
        finally
        {
            await stack.Gateway.DeleteAsync($"/sandboxes/{id}");
        }
    }

    [Fact]
    public async Task A_call_over_the_memory_limit_kills_the_kernel_says_so_and_the_sandbox_goes_on()
    {
        var id = (await stack.Gateway.CreateSandboxAsync()).GetProperty("sandbox_id").GetString()!;
        try
        {
            await stack.Gateway.CallAsync(id, "before = 1");
            var hog = await stack.Gateway.CallAsync(id, "hog = []\nwhile True:\n    hog.append(bytearray(8 * 1024 * 1024))");

            Assert.Equal("memory_exceeded", hog.GetProperty("status").GetString());
            Assert.True(hog.GetProperty("kernel_restarted").GetBoolean());
            var next = await stack.Gateway.CallAsync(id, "'before' in globals(), 6 * 7");
            Assert.Equal("(False, 42)", next.GetProperty("results")[0].GetProperty("text/plain").GetString());
            Assert.Equal("running", (await stack.Gateway.GetFromJsonAsync<JsonElement>($"/sandboxes/{id}")).GetProperty("state").GetString());
        }
        finally
        {
            await stack.Gateway.DeleteAsync($"/sandboxes/{id}");
        }
    }

    [Fact]
    public async Task Files_go_in_and_out_byte_for_byte_the_code_sees_them_and_paths_outside_are_refused()
    {
        var id = (await stack.Gateway.CreateSandboxAsync()).GetProperty("sandbox_id").GetString()!;
        try
        {
            var bytes = Enumerable.Range(0, 70_000).Select(i => (byte)(i * 7)).ToArray();
            using (var put = await stack.Gateway.PutAsync($"/sandboxes/{id}/files/data/blob.bin", new ByteArrayContent(bytes)))
            {
                Assert.Equal(HttpStatusCode.Created, put.StatusCode);
            }
            var seen = await stack.Gateway.CallAsync(id, "import hashlib\nopen('out.txt', 'w').write('made here')\nhashlib.sha256(open('data/blob.bin', 'rb').read()).hexdigest()");
            Assert.Equal($"'{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes))}'",
                seen.GetProperty("results")[0].GetProperty("text/plain").GetString());
            Assert.Equal(bytes, await stack.Gateway.GetByteArrayAsync($"/sandboxes/{id}/files/data/blob.bin"));
            Assert.Equal("made here", await stack.Gateway.GetStringAsync($"/sandboxes/{id}/files/out.txt"));
            var list = await stack.Gateway.GetFromJsonAsync<JsonElement>($"/sandboxes/{id}/files");
            var entries = list.GetProperty("files").EnumerateArray().ToDictionary(f => f.GetProperty("path").GetString()!, f => f.GetProperty("size").GetInt64());
            Assert.Equal(70_000, entries["data/blob.bin"]);
            Assert.Equal(9, entries["out.txt"]);

            await stack.Gateway.CallAsync(id, "import os\nos.symlink('/etc/passwd', 'link')");
            using (var viaLink = await stack.Gateway.GetAsync($"/sandboxes/{id}/files/link"))
            {
                Assert.NotEqual(HttpStatusCode.OK, viaLink.StatusCode);
            }
            using (var deleted = await stack.Gateway.DeleteAsync($"/sandboxes/{id}/files/out.txt"))
            {
                Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
            }
            using var missing = await stack.Gateway.GetAsync($"/sandboxes/{id}/files/out.txt");
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }
        finally
        {
            await stack.Gateway.DeleteAsync($"/sandboxes/{id}");
        }
    }

    [Fact]
    public async Task The_data_runtime_gives_a_matplotlib_figure_as_a_png_and_a_dataframe_as_html()
    {
        var id = (await stack.Gateway.CreateSandboxAsync(new { runtime = "python-3.11-data" })).GetProperty("sandbox_id").GetString()!;
        try
        {
            await stack.Gateway.CallAsync(id, "import pandas as pd\ndf = pd.DataFrame({'a': range(10_000), 'b': range(10_000)})");
            var described = await stack.Gateway.CallAsync(id, "df.describe()");
            var plotted = await stack.Gateway.CallAsync(id, "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('three')");

            var html = described.GetProperty("results")[0];
            Assert.Contains("<table", html.GetProperty("text/html").GetString(), StringComparison.Ordinal);
            Assert.Contains("count", html.GetProperty("text/plain").GetString(), StringComparison.Ordinal);
            var png = plotted.GetProperty("results").EnumerateArray().Single(r => r.TryGetProperty("image/png", out _));
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], Convert.FromBase64String(png.GetProperty("image/png").GetString()!)[..4]);
            Assert.StartsWith("<Figure", png.GetProperty("text/plain").GetString(), StringComparison.Ordinal);
        }
        finally
        {
            await stack.Gateway.DeleteAsync($"/sandboxes/{id}");
        }
    }

    [Fact]
    public async Task A_call_followed_live_streams_its_output_as_it_happens_and_ends_with_its_result()
    {
        var id = (await stack.Gateway.CreateSandboxAsync()).GetProperty("sandbox_id").GetString()!;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/sandboxes/{id}/run")
            {
                Content = JsonContent.Create(new { code = "import time\nfor i in range(3):\n    print('tick', i, flush=True)\n    time.sleep(0.3)\n'done'" }),
            };
            request.Headers.Accept.ParseAdd("text/event-stream");
            using var response = await stack.Gateway.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            var events = new List<(string Type, string Data)>();
            string? type = null;
            while (await reader.ReadLineAsync() is { } line)
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    type = line["event: ".Length..];
                }
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    events.Add((type!, line["data: ".Length..]));
                    if (type == "result")
                    {
                        break;
                    }
                }
            }

            Assert.Equal("call", events[0].Type);
            Assert.True(events.Count(e => e.Type == "stdout") >= 2, "the ticks arrive as separate events, as they are printed");
            var result = JsonDocument.Parse(events[^1].Data).RootElement;
            Assert.Equal(("ok", "'done'"), (result.GetProperty("status").GetString(), result.GetProperty("results")[0].GetProperty("text/plain").GetString()));
        }
        finally
        {
            await stack.Gateway.DeleteAsync($"/sandboxes/{id}");
        }
    }

    [Fact]
    public async Task An_idle_sandbox_and_one_past_its_lifetime_end_by_themselves_and_their_containers_go()
    {
        var idle = (await stack.Gateway.CreateSandboxAsync(new { idle_timeout_seconds = 2, lifetime_seconds = 600 })).GetProperty("sandbox_id").GetString()!;
        var brief = (await stack.Gateway.CreateSandboxAsync(new { idle_timeout_seconds = 3, lifetime_seconds = 4 })).GetProperty("sandbox_id").GetString()!;
        var containers = new[] { await stack.SandboxContainerAsync(idle), await stack.SandboxContainerAsync(brief) };
        for (var i = 0; i < 3; i++)
        {
            // Busy, so never idle for 3 s until its 4 s lifetime is over (the last call by about 2 s leaves it idle till 5 s).
            await stack.Gateway.CallAsync(brief, "1");
            await Task.Delay(900);
        }

        await ExecutorApi.WaitUntilAsync(async () => !await stack.ContainerExistsAsync(containers[0]) && !await stack.ContainerExistsAsync(containers[1]),
            "both sandboxes' containers are removed");
        Assert.Equal("it was idle for 2 s", (await stack.Gateway.GetFromJsonAsync<JsonElement>($"/sandboxes/{idle}")).GetProperty("ended_reason").GetString());
        Assert.Equal("its lifetime of 4 s ended", (await stack.Gateway.GetFromJsonAsync<JsonElement>($"/sandboxes/{brief}")).GetProperty("ended_reason").GetString());
    }

    [Fact]
    public async Task A_fork_bomb_a_signal_storm_at_the_supervisor_and_an_output_flood_are_contained_and_the_service_goes_on()
    {
        var id = (await stack.Gateway.CreateSandboxAsync()).GetProperty("sandbox_id").GetString()!;
        try
        {
            var bomb = await stack.Gateway.CallAsync(id, "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", new { timeout_seconds = 3 });
            Assert.True(bomb.GetProperty("status").GetString() is "timed_out" or "memory_exceeded", $"the fork bomb: {bomb}");
            var storm = await stack.Gateway.CallAsync(id, """
                import os, signal
                refused = 0
                for _ in range(200):
                    for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGSTOP, signal.SIGSEGV, signal.SIGHUP):
                        try:
                            os.kill(1, sig)
                        except PermissionError:
                            refused += 1
                refused
                """, new { timeout_seconds = 5 });
            var flood = await stack.Gateway.CallAsync(id, "while True:\n    print('x' * 4096)", new { timeout_seconds = 10 });
            var after = await stack.Gateway.CallAsync(id, "6 * 7");

            Assert.Equal(("ok", "1200"), (storm.GetProperty("status").GetString(), storm.GetProperty("results")[0].GetProperty("text/plain").GetString()));
            Assert.Equal("output_limit_exceeded", flood.GetProperty("status").GetString());
            Assert.True(flood.GetProperty("stdout").GetString()!.Length <= 1024 * 1024 + 4096);
            Assert.Equal("42", after.GetProperty("results")[0].GetProperty("text/plain").GetString());
            await stack.AssertHealthyAsync();
            Assert.Equal("completed", (await stack.Gateway.RunAsync("print('runs go on')\n")).GetProperty("status").GetString());
        }
        finally
        {
            await stack.Gateway.DeleteAsync($"/sandboxes/{id}");
        }
    }
}

/// <summary>The sandbox API as the tests drive it.</summary>
public static class SandboxApi
{
    public static async Task<JsonElement> CreateSandboxAsync(this HttpClient client, object? request = null)
    {
        using var response = await client.PostAsJsonAsync("/sandboxes", request ?? new { });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"POST /sandboxes answered {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Runs code in the sandbox and returns the call's end (any status); fields such as stdin and timeout_seconds go along.</summary>
    public static async Task<JsonElement> CallAsync(this HttpClient client, string sandboxId, string code, object? fields = null)
    {
        var body = JsonSerializer.SerializeToNode(fields ?? new { })!.AsObject();
        body["code"] = code;
        using var response = await client.PostAsync($"/sandboxes/{sandboxId}/run",
            new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"run answered {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>The container that holds the sandbox, as operators see it.</summary>
    public static async Task<string> SandboxContainerAsync(this StackFixture stack, string sandboxId)
    {
        var sandbox = await stack.Operator.GetFromJsonAsync<JsonElement>($"/sandboxes/{sandboxId}");
        return sandbox.GetProperty("container_id").GetString() ?? throw new InvalidOperationException($"sandbox {sandboxId} has no container");
    }
}
