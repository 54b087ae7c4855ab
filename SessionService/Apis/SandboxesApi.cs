using System.ComponentModel;
using System.Net.ServerSentEvents;
using System.Text.Json;
using System.Text.Json.Nodes;
using Executor.SessionCore.Access;
using Executor.Contracts;
using Executor.Session.Live;
using Executor.SessionCore;
using Executor.SessionCore.Dispatch;
using Executor.SessionCore.Sandboxes;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Executor.Session.Apis;

/// <summary>
/// Stateful sandboxes: a live Python kernel per sandbox that keeps its namespace and its files between calls (see
/// <see cref="SandboxOperations"/>, which every surface calls). A sandbox is its creator's: another key gets 404.
/// </summary>
public static class SandboxesApi
{
    public static IEndpointRouteBuilder MapSandboxesApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/sandboxes").WithTags("Sandboxes");
        api.MapPost("", CreateAsync)
            .WithName("CreateSandbox")
            .WithSummary("Creates a stateful sandbox: a live Python kernel that keeps variables, imports and files between calls")
            .WithDescription("Taken from the warm pool, so no container starts. It ends when deleted, after idle_timeout_seconds without a "
                + "command (default 300), after lifetime_seconds (default 3600), or when its runner host dies; everything in it goes with it.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        api.MapGet("", ListAsync).WithName("ListSandboxes").WithSummary("The caller's sandboxes, alive first");
        api.MapGet("/{sandbox_id}", GetAsync).WithName("GetSandbox").WithSummary("A sandbox's state, host, activity and expiry")
            .ProducesProblem(StatusCodes.Status404NotFound);
        api.MapDelete("/{sandbox_id}", DeleteAsync).WithName("DeleteSandbox").WithSummary("Ends the sandbox and removes its container")
            .ProducesProblem(StatusCodes.Status404NotFound);
        api.MapPost("/{sandbox_id}/run", RunAsync)
            .WithName("RunInSandbox")
            .WithSummary("Runs code in the sandbox's namespace (Jupyter semantics: the last expression's value is a result)")
            .WithDescription("Answers when the call ends: stdout, stderr, results (MIME bundles: text/plain, text/html, image/png base64, "
                + "application/json...), outputs (in order, as Jupyter's nbformat has them), error (name, value, traceback), execution_count, "
                + "duration_ms. With 'Accept: text/event-stream', the call as it happens: 'stdout'/'stderr' events, then 'result'. An "
                + "interactive call answers 202 with its call_id at once: attach to GET /result/{call_id}/attach for its input() and read "
                + "its end from GET /sandboxes/{sandbox_id}/calls/{call_id}. Calls to one sandbox run one at a time, in order.")
            .Produces<CallView>()
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status410Gone)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        api.MapGet("/{sandbox_id}/calls/{call_id}", GetCallAsync).WithName("GetSandboxCall")
            .WithSummary("A call's result (waits up to wait_seconds for its end)").ProducesProblem(StatusCodes.Status404NotFound);
        api.MapPost("/{sandbox_id}/interrupt", InterruptAsync).WithName("InterruptSandbox")
            .WithSummary("Interrupts the running call (KeyboardInterrupt); the namespace survives").ProducesProblem(StatusCodes.Status404NotFound);
        api.MapPost("/{sandbox_id}/restart", RestartAsync).WithName("RestartSandbox")
            .WithSummary("A fresh namespace in the same sandbox (files kept)").ProducesProblem(StatusCodes.Status404NotFound);
        api.MapGet("/{sandbox_id}/files", ListFilesAsync).WithName("ListSandboxFiles")
            .WithSummary("The files and directories under /sandbox, with sizes").ProducesProblem(StatusCodes.Status404NotFound);
        api.MapPut("/{sandbox_id}/files/{**path}", PutFileAsync).WithName("PutSandboxFile")
            .WithSummary("Writes a file (the raw body) into /sandbox, making its directories")
            .WithMetadata(new RequestSizeLimitAttribute(LimitDefaults.SandboxFileBytes))
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        api.MapGet("/{sandbox_id}/files/{**path}", GetFileAsync).WithName("GetSandboxFile")
            .WithSummary("Reads a file of /sandbox, byte for byte").Produces<byte[]>(StatusCodes.Status200OK, "application/octet-stream")
            .ProducesProblem(StatusCodes.Status404NotFound);
        api.MapDelete("/{sandbox_id}/files/{**path}", DeleteFileAsync).WithName("DeleteSandboxFile")
            .WithSummary("Deletes a file (or an empty directory) of /sandbox").ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    public static async Task<Results<Created<SandboxView>, ProblemHttpResult>> CreateAsync(
        NewSandboxRequest? request, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions, CancellationToken cancellationToken)
    {
        request ??= new NewSandboxRequest(null, null, null, null);
        var (sandbox, problem) = await sandboxes.CreateAsync(sessions.CallerOf(context),
            new SandboxRequest(request.Runtime, request.IdleTimeoutSeconds, request.LifetimeSeconds, request.MemoryMb)
            {
                Egress = EgressGate.Request(request.Egress),
            }, cancellationToken);
        return sandbox is null ? Problem(context, problem!) : TypedResults.Created($"/sandboxes/{sandbox.Id}", SandboxView.From(sandbox));
    }

    public static async Task<Ok<SandboxList>> ListAsync(HttpContext context, SandboxOperations sandboxes, SessionCommands sessions, CancellationToken cancellationToken) =>
        TypedResults.Ok(new SandboxList([.. (await sandboxes.ListAsync(sessions.CallerOf(context), cancellationToken)).Select(SandboxView.From)]));

    public static async Task<Results<Ok<SandboxView>, ProblemHttpResult>> GetAsync(
        [FromRoute(Name = "sandbox_id")] string sandboxId, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions,
        CancellationToken cancellationToken)
    {
        var caller = sessions.CallerOf(context);
        return await sandboxes.FindOwnedAsync(sandboxId, caller, cancellationToken) is { } sandbox
            // Operators see which container holds it (to inspect or kill it); owners never see the host's internals.
            ? TypedResults.Ok(SandboxView.From(sandbox) with { ContainerId = caller.IsOperator ? sandbox.ContainerId : null })
            : TypedResults.Problem(SandboxOperations.SandboxNotFound(sandboxId));
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        [FromRoute(Name = "sandbox_id")] string sandboxId, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions,
        CancellationToken cancellationToken)
    {
        var caller = sessions.CallerOf(context);
        if (await sandboxes.FindOwnedAsync(sandboxId, caller, cancellationToken) is not { } sandbox)
        {
            return TypedResults.Problem(SandboxOperations.SandboxNotFound(sandboxId));
        }
        await sandboxes.DeleteAsync(sandbox, caller, cancellationToken);
        return TypedResults.NoContent();
    }

    public static async Task<IResult> RunAsync(
        [FromRoute(Name = "sandbox_id")] string sandboxId, CallBody? body, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions,
        ISessionStore store, IOutputLog log, SessionSignals signals, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = sessions.CallerOf(context);
        if (await sandboxes.FindOwnedAsync(sandboxId, caller, cancellationToken) is not { } sandbox)
        {
            return TypedResults.Problem(SandboxOperations.SandboxNotFound(sandboxId));
        }
        body ??= new CallBody(null, null, null, null);
        var (callId, problem) = await sandboxes.CallAsync(sandbox,
            new CallRequest(body.Code, body.TimeoutSeconds, body.Stdin, body.Interactive ?? false) { Context = body.Context, Env = body.Env },
            caller, cancellationToken);
        if (problem is not null)
        {
            return Problem(context, problem);
        }
        if (body.Interactive == true)
        {
            return TypedResults.Accepted($"/sandboxes/{sandboxId}/calls/{callId}", new CallAccepted(callId!, $"/result/{callId}/attach"));
        }
        if (context.Request.Headers.Accept.Any(a => a?.Contains("text/event-stream", StringComparison.OrdinalIgnoreCase) == true))
        {
            context.Response.Headers["X-Accel-Buffering"] = "no";
            return TypedResults.ServerSentEvents(Events(callId!, store, log, signals, time, cancellationToken));
        }
        var call = await sandboxes.WaitAsync(callId!, sandboxes.CallWait(null, body.TimeoutSeconds), cancellationToken);
        return Answer(sandboxId, callId!, call);
    }

    public static async Task<IResult> GetCallAsync(
        [FromRoute(Name = "sandbox_id")] string sandboxId, [FromRoute(Name = "call_id")] string callId, [FromQuery(Name = "wait_seconds")] int? wait,
        HttpContext context, SandboxOperations sandboxes, SessionCommands sessions, CancellationToken cancellationToken)
    {
        var caller = sessions.CallerOf(context);
        if (await sandboxes.FindOwnedAsync(sandboxId, caller, cancellationToken) is null
            || await sessions.FindOwnedAsync(callId, caller, cancellationToken) is not { } found || found.Options.Sandbox?.SandboxId != sandboxId)
        {
            return TypedResults.Problem(SandboxOperations.SandboxNotFound(sandboxId));
        }
        var call = await sandboxes.WaitAsync(callId, TimeSpan.FromSeconds(Math.Clamp(wait ?? 0, 0, 60)), cancellationToken);
        return call is not null && SessionStatus.IsTerminal(call.Status)
            ? Answer(sandboxId, callId, call)
            : TypedResults.Ok(new CallView(callId, "running", "", "", [], [], null, null, 0, false, null));
    }

    public static async Task<Results<Accepted<InterruptView>, ProblemHttpResult>> InterruptAsync(
        [FromRoute(Name = "sandbox_id")] string sandboxId, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions,
        CancellationToken cancellationToken)
    {
        if (await sandboxes.FindOwnedAsync(sandboxId, sessions.CallerOf(context), cancellationToken) is not { } sandbox)
        {
            return TypedResults.Problem(SandboxOperations.SandboxNotFound(sandboxId));
        }
        if (SandboxOperations.NotRunning(sandbox) is { } ended)
        {
            return TypedResults.Problem(ended);
        }
        return TypedResults.Accepted((string?)null, new InterruptView(await sandboxes.InterruptAsync(sandbox, cancellationToken)));
    }

    public static async Task<Results<Ok<SandboxView>, ProblemHttpResult>> RestartAsync(
        [FromRoute(Name = "sandbox_id")] string sandboxId, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions,
        CancellationToken cancellationToken)
    {
        var caller = sessions.CallerOf(context);
        if (await sandboxes.FindOwnedAsync(sandboxId, caller, cancellationToken) is not { } sandbox)
        {
            return TypedResults.Problem(SandboxOperations.SandboxNotFound(sandboxId));
        }
        var (command, problem) = await sandboxes.RestartAsync(sandbox, caller, cancellationToken);
        if (CommandProblem(sandboxId, command, problem) is { } failed)
        {
            return TypedResults.Problem(failed);
        }
        return TypedResults.Ok(SandboxView.From(await sandboxes.FindOwnedAsync(sandboxId, caller, cancellationToken) ?? sandbox));
    }

    public static async Task<Results<Ok<FileList>, ProblemHttpResult>> ListFilesAsync(
        [FromRoute(Name = "sandbox_id")] string sandboxId, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions,
        CancellationToken cancellationToken)
    {
        var (command, problem) = await FileCommandAsync(sandboxId, SandboxCommandKinds.ListFiles, "", null, context, sandboxes, sessions, cancellationToken);
        return problem is not null
            ? TypedResults.Problem(problem)
            : TypedResults.Ok(new FileList([.. command!.Result!.Sandbox!.Entries ?? []]));
    }

    public static async Task<Results<Created<FileView>, ProblemHttpResult>> PutFileAsync(
        [FromRoute(Name = "sandbox_id")] string sandboxId, string path, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions,
        CancellationToken cancellationToken)
    {
        var limit = sandboxes.Options.MaxFileBytes;
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return TypedResults.Problem(Problems.Create(StatusCodes.Status413PayloadTooLarge, "sandbox-file-too-large", "File too large",
                    $"A sandbox's file may have at most {limit} bytes."));
            }
            buffer.Write(chunk, 0, read);
        }
        var (command, problem) = await FileCommandAsync(sandboxId, SandboxCommandKinds.PutFile, path, buffer.ToArray(), context, sandboxes, sessions,
            cancellationToken);
        return problem is not null
            ? TypedResults.Problem(problem)
            : TypedResults.Created($"/sandboxes/{sandboxId}/files/{path}", new FileView(path, command!.Result!.Sandbox!.Size ?? buffer.Length));
    }

    public static async Task<Results<FileContentHttpResult, ProblemHttpResult>> GetFileAsync(
        [FromRoute(Name = "sandbox_id")] string sandboxId, string path, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions,
        IResultFiles files, CancellationToken cancellationToken)
    {
        var (command, problem) = await FileCommandAsync(sandboxId, SandboxCommandKinds.GetFile, path, null, context, sandboxes, sessions, cancellationToken);
        if (problem is not null)
        {
            return TypedResults.Problem(problem);
        }
        var file = command!.Result!.Files is { Count: > 0 } got ? got[0] : null;
        var content = file is null ? null : await files.ReadResultFileAsync(command.Id, file.Path, cancellationToken);
        return content is null
            ? TypedResults.Problem(FileNotFound(sandboxId, path))
            : TypedResults.File(content, "application/octet-stream", fileDownloadName: Path.GetFileName(path));
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> DeleteFileAsync(
        [FromRoute(Name = "sandbox_id")] string sandboxId, string path, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions,
        CancellationToken cancellationToken)
    {
        var (_, problem) = await FileCommandAsync(sandboxId, SandboxCommandKinds.DeleteFile, path, null, context, sandboxes, sessions, cancellationToken);
        return problem is not null ? TypedResults.Problem(problem) : TypedResults.NoContent();
    }

    private static async Task<(SessionRecord? Command, ProblemDetails? Problem)> FileCommandAsync(
        string sandboxId, string kind, string path, byte[]? content, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions,
        CancellationToken cancellationToken)
    {
        var caller = sessions.CallerOf(context);
        if (await sandboxes.FindOwnedAsync(sandboxId, caller, cancellationToken) is not { } sandbox)
        {
            return (null, SandboxOperations.SandboxNotFound(sandboxId));
        }
        var (command, problem) = await sandboxes.FileAsync(sandbox, kind, path, content, caller, cancellationToken);
        return (command, CommandProblem(sandboxId, command, problem, path));
    }

    /// <summary>The problem a command's end means, or null when it did what it was asked.</summary>
    private static ProblemDetails? CommandProblem(string sandboxId, SessionRecord? command, ProblemDetails? problem, string? path = null)
    {
        if (problem is not null)
        {
            return problem;
        }
        var outcome = command!.Result?.Sandbox;
        return outcome?.Status switch
        {
            SandboxStatus.Ok or SandboxStatus.Restarted => null,
            SandboxStatus.NotFound => FileNotFound(sandboxId, path ?? ""),
            SandboxStatus.BadPath => Problems.Create(StatusCodes.Status400BadRequest, "bad-sandbox-path", "Invalid path",
                $"'{path}' is not a path the sandbox takes: {command.Result?.Detail}"),
            SandboxStatus.TooLarge or SandboxStatus.TooManyFiles => Problems.Create(StatusCodes.Status413PayloadTooLarge, "sandbox-files-full",
                "The sandbox's files are full", command.Result?.Detail ?? "The sandbox's working directory has no room for it."),
            SandboxStatus.IsADirectory or SandboxStatus.NotADirectory or SandboxStatus.NotEmpty => Problems.Create(StatusCodes.Status409Conflict,
                "sandbox-file-conflict", "Not possible on this path", $"'{path}': {outcome.Status.Replace('_', ' ')}."),
            SandboxStatus.SandboxGone => Problems.Create(StatusCodes.Status410Gone, "sandbox-ended", "The sandbox has ended",
                command.Result?.Detail ?? $"Sandbox {sandboxId} ended."),
            _ => Problems.Create(StatusCodes.Status502BadGateway, "sandbox-command-failed", "The sandbox could not do it",
                command.Result?.Detail ?? $"The command ended {command.Status}."),
        };
    }

    private static ProblemDetails FileNotFound(string sandboxId, string path) => Problems.Create(StatusCodes.Status404NotFound,
        "sandbox-file-not-found", "No such file", $"Sandbox {sandboxId} has no file '{path}' under /sandbox.");

    private static IResult Answer(string sandboxId, string callId, SessionRecord? call)
    {
        if (call is null || !SessionStatus.IsTerminal(call.Status))
        {
            return TypedResults.Problem(Problems.Create(StatusCodes.Status504GatewayTimeout, "sandbox-no-answer", "The call did not end in time",
                $"Call {callId} has not ended; read it later from GET /sandboxes/{sandboxId}/calls/{callId}."));
        }
        if (call.Result?.Sandbox?.Status == SandboxStatus.SandboxGone)
        {
            return TypedResults.Problem(Problems.Create(StatusCodes.Status410Gone, "sandbox-ended", "The sandbox has ended",
                call.Result.Detail ?? $"Sandbox {sandboxId} ended before the call ran."));
        }
        return TypedResults.Ok(CallView.From(call));
    }

    private static ProblemHttpResult Problem(HttpContext context, ProblemDetails problem)
    {
        if (problem.Status is StatusCodes.Status503ServiceUnavailable or StatusCodes.Status429TooManyRequests && problem.Type?.EndsWith("sandbox-quota", StringComparison.Ordinal) != true)
        {
            context.Response.Headers.RetryAfter = SessionSubmitter.EngineRetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        return TypedResults.Problem(problem);
    }

    private static async IAsyncEnumerable<SseItem<string>> Events(
        string callId, ISessionStore store, IOutputLog log, SessionSignals signals, TimeProvider time,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        yield return new SseItem<string>(new JsonObject { ["call_id"] = callId }.ToJsonString(), "call");
        await foreach (var e in SessionFeed.StreamAsync(callId, 0, store, log, signals, time, cancellationToken))
        {
            if (e.Type == SessionFeed.ResultEvent)
            {
                var call = await store.FindAsync(callId, cancellationToken);
                yield return new SseItem<string>(JsonSerializer.Serialize(CallView.From(call!), SessionResults.Json), SessionFeed.ResultEvent) { EventId = e.Id };
                yield break;
            }
            yield return new SseItem<string>(e.Data.ToJsonString(SessionResults.Json), e.Type) { EventId = e.Id };
        }
    }
}

/// <summary>POST /sandboxes: each omitted field is the default (within the key's ceilings).</summary>
public sealed record NewSandboxRequest(
    [property: Description("The runtime (GET /runtimes); default python-3.11.")] string? Runtime,
    [property: Description("Seconds without a command after which the sandbox ends (default 300).")] int? IdleTimeoutSeconds,
    [property: Description("Seconds after which the sandbox ends however busy (default 3600).")] int? LifetimeSeconds,
    [property: Description("Memory of the whole sandbox, MiB (default the runtime's).")] int? MemoryMb)
{
    [Description("Network the sandbox may reach for its life, through its host's egress proxy only: host (ports 80 and 443), host:port, "
        + "host:* or '*' (every destination the key is allowed); each within what the operator allows the key. Omitted: no network.")]
    public IReadOnlyList<string>? Egress { get; init; }
}

/// <summary>POST /sandboxes/{id}/run.</summary>
public sealed record CallBody(
    [property: Description("Python code, run in the sandbox's namespace.")] string? Code,
    [property: Description("Seconds before the call is interrupted (default 30).")] int? TimeoutSeconds,
    [property: Description("The call's whole stdin (input() reads it).")] string? Stdin,
    [property: Description("Input arrives live through GET /result/{call_id}/attach; the answer is 202 with the call_id.")] bool? Interactive)
{
    [Description("A namespace of its own in the same sandbox (made empty the first time it is named); omitted: the main one.")]
    public string? Context { get; init; }

    [Description("Environment variables for this call only.")]
    public IReadOnlyDictionary<string, string>? Env { get; init; }
}

/// <summary>A sandbox as its owner sees it.</summary>
public sealed record SandboxView(
    string SandboxId, string? Runtime, string State, string? Host, DateTimeOffset CreatedAt, DateTimeOffset LastActivityAt,
    DateTimeOffset ExpiresAt, DateTimeOffset IdleExpiresAt, int IdleTimeoutSeconds, int LifetimeSeconds, int? MemoryMb, int Executions,
    DateTimeOffset? EndedAt, string? EndedReason)
{
    /// <summary>The container that holds it, shown to operators only.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? ContainerId { get; init; }

    public static SandboxView From(SandboxRecord s) => new(s.Id, s.Runtime, s.State, s.Host, s.CreatedAt, s.LastActivityAt, s.ExpiresAt, s.IdleUntil,
        s.IdleTimeoutSeconds, s.LifetimeSeconds, s.MemoryMb, s.Executions, s.EndedAt, s.EndedReason);
}

public sealed record SandboxList(IReadOnlyList<SandboxView> Sandboxes);

public sealed record InterruptView(bool Interrupted);

public sealed record CallAccepted(string CallId, string Attach);

public sealed record FileList(IReadOnlyList<SandboxFileEntry> Files);

public sealed record FileView(string Path, long Size);

/// <summary>An error a call raised, as Jupyter reports it.</summary>
public sealed record CallError(string Name, string Value, IReadOnlyList<string> Traceback);

/// <summary>A call's end: what it printed, its results (MIME bundles), its outputs in order (nbformat 4) and its error.</summary>
public sealed record CallView(
    string CallId, string Status, string Stdout, string Stderr, IReadOnlyList<JsonElement> Results, IReadOnlyList<JsonElement> Outputs,
    CallError? Error, int? ExecutionCount, double DurationMs, bool KernelRestarted, string? Detail)
{
    [Description("The connections the call tried through the sandbox's egress proxy (omitted when the sandbox has no egress).")]
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<EgressConnection>? Egress { get; init; }

    public static CallView From(SessionRecord call)
    {
        var result = call.Result!;
        var outcome = result.Sandbox;
        var outputs = outcome?.Outputs ?? [];
        var results = outputs
            .Where(o => o.TryGetProperty("output_type", out var type) && type.GetString() is "execute_result" or "display_data" && o.TryGetProperty("data", out _))
            .Select(o => o.GetProperty("data")).ToList();
        var error = outputs.Where(o => o.TryGetProperty("output_type", out var type) && type.GetString() == "error")
            .Select(o => new CallError(Text(o, "ename"), Text(o, "evalue"),
                o.TryGetProperty("traceback", out var tb) && tb.ValueKind == JsonValueKind.Array ? [.. tb.EnumerateArray().Select(l => l.GetString() ?? "")] : []))
            .LastOrDefault();
        var status = outcome?.Status ?? result.Status switch
        {
            RunStatus.Cancelled => SandboxStatus.Interrupted,
            RunStatus.TimedOut => SandboxStatus.TimedOut,
            RunStatus.MemoryExceeded => SandboxStatus.MemoryExceeded,
            _ => SandboxStatus.KernelDied,
        };
        return new CallView(call.Id, status, result.Stdout, result.Stderr, results, outputs, error, outcome?.ExecutionCount, result.DurationMs,
            outcome?.KernelRestarted ?? false, result.Detail) { Egress = result.Egress };
    }

    private static string Text(JsonElement output, string name) =>
        output.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : "";
}
