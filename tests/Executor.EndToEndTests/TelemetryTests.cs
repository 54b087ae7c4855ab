using System.Net.Http.Json;
using System.Text.Json;

namespace Executor.EndToEndTests;

[Collection(StackCollection.Name)]
public sealed class TelemetryTests(StackFixture stack, Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task One_execution_is_one_connected_trace_through_every_service()
    {
        using var form = new MultipartFormDataContent();
        form.AddFile("main.py", "print('traced')\n");
        using var response = await stack.Gateway.PostAsync("/execute?wait=true", form);
        var result = await response.Content.ReadFromJsonAsync<JsonElement>();
        var sessionId = result.GetProperty("session_id").GetString()!;

        // Each service exports in its own batches: wait until every one's part of the trace has arrived.
        List<ReceivedSpan> trace = [];
        await ExecutorApi.WaitUntilAsync(() =>
        {
            var traceId = stack.Telemetry.Spans.FirstOrDefault(s => s.Attributes.GetValueOrDefault("executor.session_id") == sessionId)?.TraceId;
            trace = [.. stack.Telemetry.Spans.Where(s => s.TraceId == traceId)];
            // The runner's "run session" ends last (after its POST of the result), so it may come in a later batch.
            return Task.FromResult(trace.Any(s => s.Name == "store result") && trace.Any(s => s.Service == "gateway" && s.ParentSpanId is null)
                && trace.Any(s => s.Name == "collect output") && trace.Any(s => s.Service == "gateway" && s.Name == "POST")
                && trace.Any(s => s.Service == "runner" && s.Name == "run session") && trace.Any(s => s.Service == "runner" && s.Name == "POST")
                // A parent ends after its children (SessionService's POST /execute after a wait): it may come in a later batch.
                && trace.All(s => s.ParentSpanId is null || trace.Any(p => p.SpanId == s.ParentSpanId)));
        }, "the execution's trace is exported by every service");

        var start = trace.Min(s => s.StartNanos);
        foreach (var span in trace.OrderBy(s => s.StartNanos))
        {
            output.WriteLine($"{(span.StartNanos - start) / 1e6,8:0.00} ms {(span.EndNanos - span.StartNanos) / 1e6,8:0.00} ms  {span.Service,-8} {span.Name}");
        }

        // Connected: one root (the gateway's request); every other span's parent is in the trace.
        var ids = trace.Select(s => (string?)s.SpanId).ToHashSet();
        var root = Assert.Single(trace, s => s.ParentSpanId is null);
        Assert.Equal("gateway", root.Service);
        Assert.All(trace.Where(s => s != root), s => Assert.Contains(s.ParentSpanId, ids));

        ReceivedSpan Span(string service, string name) =>
            Assert.Single(trace, s => s.Service == service && s.Name == name);
        Assert.Equal(root.SpanId, Span("gateway", "POST").ParentSpanId); // the proxied call
        var submit = Span("session", "POST /execute");
        Assert.Equal(sessionId, submit.Attributes["executor.session_id"]);
        Assert.Equal(submit.SpanId, Span("session", "validate upload").ParentSpanId);
        Assert.Equal(submit.SpanId, Span("session", "persist session").ParentSpanId);
        // The runner host claimed it: its wait in the queue, and its run, continue the submission's trace.
        var queued = Span("session", "queue wait");
        Assert.Equal(submit.SpanId, queued.ParentSpanId);
        var runSession = Span("runner", "run session");
        Assert.Equal(submit.SpanId, runSession.ParentSpanId);
        Assert.Equal("completed", runSession.Attributes["executor.status"]);
        Assert.Equal("0", runSession.Attributes["executor.exit_code"]);
        Assert.Equal(result.GetProperty("runner_host").GetString(), runSession.Attributes["executor.runner_host"]);
        Assert.Equal(queued.Attributes["executor.runner_host"], runSession.Attributes["executor.runner_host"]);
        var acquire = Span("runner", "acquire container");
        Assert.Equal(runSession.SpanId, acquire.ParentSpanId);
        var run = Span("runner", "run container");
        Assert.Equal(runSession.SpanId, run.ParentSpanId);
        Assert.Equal(sessionId, run.Attributes["executor.session_id"]);
        Assert.Equal(12, run.Attributes["executor.container_id"].Length);
        Assert.Equal(result.GetProperty("warm_start").GetBoolean() ? "true" : "false", run.Attributes["executor.warm"]);
        Assert.Equal(run.SpanId, Span("runner", "send job").ParentSpanId);
        Assert.Equal(run.SpanId, Span("runner", "collect output").ParentSpanId);
        // The result goes back to SessionService within the run's trace.
        // (Output may have gone ahead in a request of its own, POST …/output, on a slow machine: the result is the one here.)
        var received = Assert.Single(trace, s => s.Service == "session" && s.Name == "POST /hosts/{host}/runs/{sessionId}/result");
        var report = Assert.Single(trace, s => s.SpanId == received.ParentSpanId);
        Assert.Equal(("runner", "POST", runSession.SpanId), (report.Service, report.Name, report.ParentSpanId));
        Assert.Equal(received.SpanId, Span("session", "store result").ParentSpanId);

        // A warm container was leased ahead of the run: the lease is in the trace that filled the runner's slot,
        // which names the same container.
        if (result.GetProperty("warm_start").GetBoolean())
        {
            var container = run.Attributes["executor.container_id"];
            var fill = Assert.Single(stack.Telemetry.Spans, s => s.Name == "fill warm slot" && s.Attributes.GetValueOrDefault("executor.container_id") == container);
            Assert.Contains(stack.Telemetry.Spans, s => s.TraceId == fill.TraceId && s.Service == "prewarm" && s.Name == "POST /leases");
        }
    }

    [Fact]
    public async Task Background_work_has_traces_of_its_own()
    {
        await ExecutorApi.WaitUntilAsync(() => Task.FromResult(
            stack.Telemetry.Spans.Any(s => s.Name == "start pool container" && s.ParentSpanId is null)
            && stack.Telemetry.Spans.Any(s => s.Name == "reap orphans" && s.ParentSpanId is null)
            && stack.Telemetry.Spans.Any(s => s.Name == "fill warm slot" && s.ParentSpanId is null)), "pool, reaper and slot spans are exported as roots");
    }
}
