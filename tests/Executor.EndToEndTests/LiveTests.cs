using System.Net;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Text.Json;

namespace Executor.EndToEndTests;

/// <summary>A session as it happens, through the gateway: Server-Sent Events of its state, its output and its result.</summary>
[Collection(StackCollection.Name)]
public sealed class LiveTests(StackFixture stack)
{
    private const string TwoLines = "import sys, time\nprint('first', flush=True)\ntime.sleep(2)\nprint('oops', file=sys.stderr)\nprint('second')\n";

    [Fact]
    public async Task The_first_line_arrives_while_the_script_still_runs_and_the_result_comes_last()
    {
        var sessionId = await stack.Gateway.SubmitAsync(TwoLines);
        var events = new List<SseItem<string>>();
        string? stateWhenFirstArrived = null;

        await foreach (var item in EventsAsync(stack.Gateway, sessionId))
        {
            events.Add(item);
            if (item.EventType == "stdout" && stateWhenFirstArrived is null)
            {
                using var now = await stack.Gateway.GetAsync($"/result/{sessionId}");
                stateWhenFirstArrived = now.StatusCode == HttpStatusCode.Accepted ? "running" : "ended";
            }
        }

        Assert.Equal("running", stateWhenFirstArrived);
        Assert.Contains(events, e => e.EventType == "state" && Data(e).GetProperty("state").GetString() == "running");
        var output = events.Where(e => e.EventType is "stdout" or "stderr").ToList();
        Assert.Equal("first\n", Text(output[0]));
        Assert.Equal(0, Data(output[0]).GetProperty("offset").GetInt64());
        Assert.Equal("first\noops\nsecond\n", string.Concat(output.Select(Text)));
        Assert.Equal(["stdout", "stderr", "stdout"], output.Select(e => e.EventType).Where((t, i) => i == 0 || t != output[i - 1].EventType));
        var result = Assert.Single(events, e => e.EventType == "result");
        Assert.Equal("result", events[^1].EventType);
        Assert.Equal("completed", Data(result).GetProperty("status").GetString());
        Assert.Equal("first\noops\nsecond\n", Data(result).GetProperty("logs").GetString());
    }

    [Fact]
    public async Task Last_Event_ID_resumes_without_loss_or_duplicates()
    {
        var sessionId = await stack.Gateway.SubmitAsync(TwoLines);
        string? resumeFrom = null;
        await foreach (var item in EventsAsync(stack.Gateway, sessionId))
        {
            if (item.EventType == "stdout")
            {
                resumeFrom = item.EventId; // then the connection drops
                break;
            }
        }
        Assert.Equal("6", resumeFrom); // "first\n" is 6 bytes: the id is the offset after it

        var rest = new List<SseItem<string>>();
        await foreach (var item in EventsAsync(stack.Gateway, sessionId, resumeFrom))
        {
            rest.Add(item);
        }

        Assert.Equal("oops\nsecond\n", string.Concat(rest.Where(e => e.EventType is "stdout" or "stderr").Select(Text)));
        Assert.Equal("result", rest[^1].EventType);
    }

    [Fact]
    public async Task A_client_that_comes_after_the_end_gets_the_whole_output_and_the_result_at_once()
    {
        var sessionId = await stack.Gateway.SubmitAsync("import sys\nprint('a')\nprint('b', file=sys.stderr)\nprint('c')\n");
        await stack.Gateway.WaitForResultAsync(sessionId);

        var events = new List<SseItem<string>>();
        await foreach (var item in EventsAsync(stack.Gateway, sessionId))
        {
            events.Add(item);
        }

        Assert.Equal(["stdout", "stderr", "stdout", "result"], events.Select(e => e.EventType));
        Assert.Equal(["a\n", "b\n", "c\n"], events.Take(3).Select(Text));
        Assert.Equal(["2", "4", "6", "end"], events.Select(e => e.EventId));
        var resumed = new List<SseItem<string>>();
        await foreach (var item in EventsAsync(stack.Gateway, sessionId, lastEventId: "4"))
        {
            resumed.Add(item);
        }
        Assert.Equal(["stdout", "result"], resumed.Select(e => e.EventType));
    }

    [Fact]
    public async Task Output_over_the_cap_is_cut_the_same_on_the_stream_and_in_the_result()
    {
        var sessionId = await stack.Gateway.SubmitAsync("import sys, time\nfor i in range(40):\n    sys.stdout.write('x' * 65536)\n    sys.stdout.flush()\n    time.sleep(0.01)\n");
        var streamed = 0L;
        SseItem<string>? result = null;
        await foreach (var item in EventsAsync(stack.Gateway, sessionId))
        {
            if (item.EventType == "stdout")
            {
                streamed += Text(item).Length;
            }
            result = item;
        }

        Assert.Equal("result", result!.Value.EventType);
        var final = Data(result.Value);
        Assert.Equal("output_limit_exceeded", final.GetProperty("status").GetString());
        Assert.True(final.GetProperty("stdout_truncated").GetBoolean());
        Assert.Equal(1024 * 1024, final.GetProperty("stdout").GetString()!.Length);
        Assert.Equal(1024 * 1024, streamed);
    }

    [Fact]
    public async Task Alternating_one_byte_writes_end_with_a_bounded_replay_that_holds_the_whole_output()
    {
        // 200,000 one-byte writes alternating between stdout and stderr: the runner keeps a bounded number of segments
        // (the first 2048 as written, then the streams interleave at a coarser grain), so the result row stays small
        // and a replay is a few thousand events, not 200,000.
        var sessionId = await stack.Gateway.SubmitAsync(
            "import sys\no, e = sys.stdout, sys.stderr\nfor i in range(100000):\n    o.write('a'); o.flush()\n    e.write('b'); e.flush()\n",
            ("timeout_seconds", "60"));
        var result = await stack.Gateway.WaitForResultAsync(sessionId);
        Assert.Equal("completed", result.GetProperty("status").GetString());
        Assert.Equal(new string('a', 100_000), result.GetProperty("stdout").GetString());
        Assert.Equal(new string('b', 100_000), result.GetProperty("stderr").GetString());
        var logs = result.GetProperty("logs").GetString()!;
        Assert.Equal(200_000, logs.Length);
        Assert.StartsWith("abababab", logs, StringComparison.Ordinal); // the interleaving, as written at first

        var events = new List<SseItem<string>>();
        await foreach (var item in EventsAsync(stack.Gateway, sessionId))
        {
            events.Add(item);
        }
        var output = events.Where(e => e.EventType is "stdout" or "stderr").ToList();
        Assert.InRange(output.Count, 2, 2 * 2048 + 2);
        Assert.Equal(logs, string.Concat(output.Select(Text)));
        Assert.Equal(new string('a', 100_000), string.Concat(output.Where(e => e.EventType == "stdout").Select(Text)));
        Assert.Equal("result", events[^1].EventType);

        // And the service answers as before.
        Assert.Equal("still here\n", (await stack.Gateway.RunAsync("print('still here')\n")).GetProperty("logs").GetString());
    }

    [Fact]
    public async Task A_key_holds_a_bounded_number_of_streams_and_long_polls_open_and_one_more_is_429()
    {
        const int maxStreams = 16; // Sessions:MaxStreamsPerKey
        var sessionId = await stack.Gateway.SubmitAsync("import time\ntime.sleep(30)\n", ("timeout_seconds", "40"));
        var open = new List<HttpResponseMessage>();
        try
        {
            for (var i = 0; i < maxStreams; i++)
            {
                var stream = await stack.Gateway.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"/result/{sessionId}/events"),
                    HttpCompletionOption.ResponseHeadersRead);
                open.Add(stream);
                Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
            }

            using var oneMore = await stack.Gateway.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"/result/{sessionId}/events"),
                HttpCompletionOption.ResponseHeadersRead);
            using var longPoll = await stack.Gateway.GetAsync($"/result/{sessionId}?wait_seconds=5");

            foreach (var refused in new[] { oneMore, longPoll })
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
                Assert.NotNull(refused.Headers.RetryAfter);
                var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();
                Assert.Equal("urn:executor:problem:too-many-streams", problem.GetProperty("type").GetString());
            }

            // A stream that ends gives its place back.
            open[0].Dispose();
            open.RemoveAt(0);
            await ExecutorApi.WaitUntilAsync(async () =>
            {
                using var again = await stack.Gateway.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"/result/{sessionId}/events"),
                    HttpCompletionOption.ResponseHeadersRead);
                return again.StatusCode == HttpStatusCode.OK;
            }, "a place is free again");
        }
        finally
        {
            open.ForEach(r => r.Dispose());
            using var cleanup = await stack.Gateway.PostAsync($"/cleanup/{sessionId}", null);
        }
    }

    [Fact]
    public async Task The_wire_format_is_plain_server_sent_events()
    {
        var sessionId = await stack.Gateway.SubmitAsync("print('wire')\n");
        await stack.Gateway.WaitForResultAsync(sessionId);

        using var response = await stack.Gateway.GetAsync($"/result/{sessionId}/events");
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("event: stdout\ndata: {\"offset\":0,\"text\":\"wire\\n\"}\nid: 5\n\n", body, StringComparison.Ordinal);
        Assert.Contains("event: result\ndata: {\"session_id\":", body, StringComparison.Ordinal);
    }


    public static async IAsyncEnumerable<SseItem<string>> EventsAsync(HttpClient client, string sessionId, string? lastEventId = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/result/{sessionId}/events");
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }
        using var timeout = new CancellationTokenSource(ExecutorApi.ResultDeadline);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var stream = await response.Content.ReadAsStreamAsync(timeout.Token);
        await foreach (var item in SseParser.Create(stream).EnumerateAsync(timeout.Token))
        {
            if (item.EventType != "ping")
            {
                yield return item;
            }
        }
    }

    public static JsonElement Data(SseItem<string> item) => JsonDocument.Parse(item.Data).RootElement;

    public static string Text(SseItem<string> item) => Data(item).GetProperty("text").GetString()!;
}
