using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Executor.Contracts;
using Executor.Session.Live;
using Executor.SessionCore.Dispatch;
using Executor.SessionCore.Sandboxes;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;

namespace Executor.Session.Compat.E2b;

/// <summary>
/// E2B's code interpreter (port 49999 of its sandboxes): <c>POST /execute</c> streams a call's output as newline-delimited
/// JSON while it runs (stdout and stderr live, through <see cref="SessionFeed"/>, so any replica serves it), then its
/// results, error and execution count; code contexts are namespaces of their own in the one kernel, listed in the
/// sandbox's attributes. Python only.
/// </summary>
public static class E2bCodeApi
{
    private const string Tag = "E2B data plane";

    public static IEndpointRouteBuilder MapE2bCodeApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup(E2bDataPlaneRouting.Prefix.Value!).WithTags(Tag).AllowAnonymous() // the sandbox's own token, checked here
            .ExcludeFromDescription();
        api.MapPost("/execute", ExecuteAsync).WithName("E2bExecute")
            .WithSummary("E2B: runs code in the sandbox's kernel (or a context), streaming its output as newline-delimited JSON");
        api.MapPost("/contexts", CreateContextAsync).WithName("E2bCreateContext").WithSummary("E2B: a new code context (a namespace of its own)");
        api.MapGet("/contexts", ListContextsAsync).WithName("E2bListContexts").WithSummary("E2B: the sandbox's code contexts");
        api.MapDelete("/contexts/{contextId}", RemoveContextAsync).WithName("E2bRemoveContext").WithSummary("E2B: removes a code context");
        api.MapPost("/contexts/{contextId}/restart", RestartContextAsync).WithName("E2bRestartContext")
            .WithSummary("E2B: empties a code context's namespace");
        api.MapGet("/health", HealthAsync).WithName("E2bHealth").WithSummary("E2B: 204 while the sandbox runs, 502 once it has ended");
        return app;
    }

    public static async Task<IResult> HealthAsync(HttpContext context, SandboxOperations sandboxes, CancellationToken cancellationToken)
    {
        var (sandbox, _, status, message) = await E2bSandbox.FindAsync(context, sandboxes, cancellationToken);
        return sandbox is null ? E2bSandbox.Error(status, message!) : TypedResults.NoContent();
    }

    public static async Task<IResult> ExecuteAsync(
        HttpContext context, SandboxOperations sandboxes, ISessionStore store, IOutputLog log, SessionSignals signals, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var (sandbox, owner, status, message) = await E2bSandbox.FindAsync(context, sandboxes, cancellationToken);
        if (sandbox is null)
        {
            return E2bSandbox.Error(status, message!);
        }
        var body = await E2bSandbox.ReadObjectAsync(context, cancellationToken);
        if (E2bSandbox.Text(body?["code"]) is not { } code)
        {
            return E2bSandbox.Error(StatusCodes.Status400BadRequest, "'code' is required.");
        }
        var contextId = E2bSandbox.Text(body!["context_id"]);
        var language = E2bSandbox.Text(body["language"]);
        if (contextId is not null && language is not null)
        {
            return E2bSandbox.Error(StatusCodes.Status400BadRequest, "Only one of context_id or language can be provided");
        }
        if (LanguageRefusal(language) is { } refused)
        {
            return E2bSandbox.Error(StatusCodes.Status400BadRequest, refused);
        }
        if (contextId is not null && E2bAttributes.Of(sandbox).Contexts.All(c => c.Id != contextId))
        {
            return E2bSandbox.Error(StatusCodes.Status404NotFound, $"Context {contextId} not found");
        }
        Dictionary<string, string>? callEnv = null;
        if (body["env_vars"] is JsonObject env)
        {
            callEnv = env.Where(p => p.Value?.GetValueKind() == JsonValueKind.String).ToDictionary(p => p.Key, p => p.Value!.GetValue<string>());
        }
        var (callId, problem) = await sandboxes.CallAsync(sandbox,
            new CallRequest(code, E2bSandbox.CallTimeout(owner!, owner!.Quotas.MaxTimeoutSeconds), null, false)
            {
                Context = contextId, Env = E2bSandbox.Env(sandbox, callEnv),
            }, owner, cancellationToken);
        if (problem is not null)
        {
            return E2bSandbox.Error(problem.Status == StatusCodes.Status410Gone ? StatusCodes.Status502BadGateway : problem.Status ?? 500,
                problem.Detail ?? problem.Title ?? "The call could not be made.");
        }

        context.Response.ContentType = "application/x-ndjson";
        context.Response.Headers["X-Accel-Buffering"] = "no";
        await context.Response.StartAsync(cancellationToken); // the SDK's request timeout covers only the headers
        await foreach (var e in SessionFeed.StreamAsync(callId!, 0, store, log, signals, time, cancellationToken))
        {
            switch (e.Type)
            {
                case SessionFeed.StdoutEvent or SessionFeed.StderrEvent:
                    await WriteLineAsync(context, new JsonObject { ["type"] = e.Type, ["text"] = e.Data["text"]?.GetValue<string>() ?? "" }, cancellationToken);
                    break;
                case SessionFeed.PingEvent:
                    await WriteLineAsync(context, new JsonObject { ["type"] = "keepalive" }, cancellationToken);
                    break;
                case SessionFeed.ResultEvent:
                    foreach (var line in EndLines(await store.FindAsync(callId!, cancellationToken)))
                    {
                        await WriteLineAsync(context, line, cancellationToken);
                    }
                    return Results.Empty;
            }
        }
        return Results.Empty;
    }

    /// <summary>What follows a call's live output: its execution count, its results and its error (a call the kernel could not finish has one too).</summary>
    public static IEnumerable<JsonObject> EndLines(SessionRecord? call)
    {
        var outcome = call?.Result?.Sandbox;
        if (outcome?.ExecutionCount is { } count)
        {
            yield return new JsonObject { ["type"] = "number_of_executions", ["execution_count"] = count };
        }
        var lines = E2bFormat.ResultLines(outcome?.Outputs ?? []).ToList();
        foreach (var line in lines)
        {
            yield return line;
        }
        if (outcome?.Status is not (SandboxStatus.Ok or SandboxStatus.Error) && !lines.Any(l => (string?)l["type"] == "error"))
        {
            var status = outcome?.Status ?? call?.Result?.Status ?? "no_answer";
            yield return new JsonObject
            {
                ["type"] = "error",
                ["name"] = status switch
                {
                    SandboxStatus.TimedOut => "TimeoutError",
                    SandboxStatus.MemoryExceeded => "MemoryError",
                    SandboxStatus.Interrupted => "KeyboardInterrupt",
                    _ => "ExecutorError",
                },
                ["value"] = call?.Result?.Detail ?? $"The call ended {status}.",
                ["traceback"] = "",
            };
        }
        yield return new JsonObject { ["type"] = "end_of_execution" };
    }

    private static async Task WriteLineAsync(HttpContext context, JsonObject line, CancellationToken cancellationToken)
    {
        await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(line.ToJsonString() + "\n"), cancellationToken);
        await context.Response.Body.FlushAsync(cancellationToken);
    }

    private static string? LanguageRefusal(string? language) => language is null or "python" or "python3"
        ? null
        : $"Executor's sandboxes run Python only; '{language}' is not supported.";

    public static async Task<IResult> CreateContextAsync(HttpContext context, SandboxOperations sandboxes, CancellationToken cancellationToken)
    {
        var (sandbox, _, status, message) = await E2bSandbox.FindAsync(context, sandboxes, cancellationToken);
        if (sandbox is null)
        {
            return E2bSandbox.Error(status, message!);
        }
        var body = await E2bSandbox.ReadObjectAsync(context, cancellationToken) ?? [];
        var language = E2bSandbox.Text(body["language"]);
        if (LanguageRefusal(language) is { } refused)
        {
            return E2bSandbox.Error(StatusCodes.Status400BadRequest, refused);
        }
        var cwd = E2bSandbox.Text(body["cwd"]);
        if (cwd is not null && E2bFormat.ToSandboxPath(cwd) is not "")
        {
            return E2bSandbox.Error(StatusCodes.Status400BadRequest,
                $"A context's working directory is the sandbox's, {E2bFormat.Home} (one kernel holds every context); '{cwd}' is not supported.");
        }
        var attributes = E2bAttributes.Of(sandbox);
        var created = new E2bContext(Guid.NewGuid().ToString(), "python", E2bFormat.Home);
        if (!await sandboxes.SetAttributesAsync(sandbox, (attributes with { Contexts = [.. attributes.Contexts, created] }).ToJson(), cancellationToken))
        {
            return E2bSandbox.Error(StatusCodes.Status502BadGateway, $"The sandbox {sandbox.Id} has ended.");
        }
        return TypedResults.Json(created, JsonOptions);
    }

    public static async Task<IResult> ListContextsAsync(HttpContext context, SandboxOperations sandboxes, CancellationToken cancellationToken)
    {
        var (sandbox, _, status, message) = await E2bSandbox.FindAsync(context, sandboxes, cancellationToken);
        return sandbox is null ? E2bSandbox.Error(status, message!) : TypedResults.Json(E2bAttributes.Of(sandbox).Contexts, JsonOptions);
    }

    public static async Task<IResult> RemoveContextAsync(string contextId, HttpContext context, SandboxOperations sandboxes, CancellationToken cancellationToken)
    {
        var (sandbox, owner, status, message) = await E2bSandbox.FindAsync(context, sandboxes, cancellationToken);
        if (sandbox is null)
        {
            return E2bSandbox.Error(status, message!);
        }
        var attributes = E2bAttributes.Of(sandbox);
        if (attributes.Contexts.All(c => c.Id != contextId))
        {
            return E2bSandbox.Error(StatusCodes.Status404NotFound, $"Context {contextId} not found");
        }
        await sandboxes.SetAttributesAsync(sandbox, (attributes with { Contexts = [.. attributes.Contexts.Where(c => c.Id != contextId)] }).ToJson(),
            cancellationToken);
        // Its namespace is emptied, so what it held is freed; the call is queued behind whatever runs and not awaited.
        await sandboxes.CallAsync(sandbox, new CallRequest("", null, null, false) { Context = contextId, ResetContext = true }, owner!, cancellationToken);
        return TypedResults.NoContent();
    }

    public static async Task<IResult> RestartContextAsync(string contextId, HttpContext context, SandboxOperations sandboxes, CancellationToken cancellationToken)
    {
        var (sandbox, owner, status, message) = await E2bSandbox.FindAsync(context, sandboxes, cancellationToken);
        if (sandbox is null)
        {
            return E2bSandbox.Error(status, message!);
        }
        if (E2bAttributes.Of(sandbox).Contexts.All(c => c.Id != contextId))
        {
            return E2bSandbox.Error(StatusCodes.Status404NotFound, $"Context {contextId} not found");
        }
        var (callId, problem) = await sandboxes.CallAsync(sandbox, new CallRequest("", null, null, false) { Context = contextId, ResetContext = true },
            owner!, cancellationToken);
        if (problem is not null)
        {
            return E2bSandbox.Error(problem.Status ?? 500, problem.Detail ?? "The context could not be restarted.");
        }
        var call = await sandboxes.WaitAsync(callId!, SandboxOperations.CommandGrace, cancellationToken);
        return call is not null && SessionStatus.IsTerminal(call.Status)
            ? TypedResults.Ok()
            : E2bSandbox.Error(StatusCodes.Status504GatewayTimeout, $"Context {contextId} was not restarted in time.");
    }

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);
}
