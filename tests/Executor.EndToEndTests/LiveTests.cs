using System.Net;
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

    [Fact]
    public async Task An_unknown_session_has_no_events()
    {
        using var response = await stack.Gateway.GetAsync("/result/0123456789abcdef0123456789abcdef/events");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
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
