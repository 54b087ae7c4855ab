using System.Text.Json.Nodes;
using Executor.Contracts;
using Executor.SessionCore;
using Executor.SessionCore.Access;
using Executor.SessionCore.Runtimes;
using Executor.SessionCore.Sandboxes;
using Executor.SessionCore.Sessions;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Executor.Session.Compat.Jupyter;

/// <summary>
/// Jupyter Server's REST API for kernels, kernel specs and sessions (what @jupyterlab/services and
/// <c>jupyter server --gateway-url</c> call) on Executor's sandboxes: a kernel is a sandbox of the caller's (see
/// <see cref="JupyterKernels"/>), a kernel spec is a runtime (and "python3" the default one), a session is a notebook's
/// path kept with its kernel. Everything goes through <see cref="SandboxOperations"/>, so keys, quotas, ownership
/// (another key's kernel is 404) and audit are the native API's. Jupyter documents this API itself: it stays out of
/// Executor's OpenAPI document.
/// </summary>
public static class JupyterApi
{
    private const string Tag = "Jupyter";

    public static IEndpointRouteBuilder MapJupyterApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api", () => TypedResults.Json(new JsonObject { ["version"] = "2.0.0" })).AllowAnonymous().ExcludeFromDescription();
        var api = app.MapGroup("/api").WithTags(Tag).ExcludeFromDescription();
        api.MapGet("/kernelspecs", ListSpecsAsync);
        api.MapGet("/kernelspecs/{name}", GetSpecAsync);
        app.MapGet("/kernelspecs/{name}/{**resource}", (string name) =>
            TypedResults.Problem(JupyterKernels.Problem(Problems.Create(StatusCodes.Status404NotFound, "kernelspec-resource-not-found",
                "No such resource", $"Kernel spec '{name}' has no resources (logos) here.")))).ExcludeFromDescription();
        api.MapGet("/kernels", ListKernelsAsync);
        api.MapPost("/kernels", StartKernelAsync).DisableAntiforgery();
        api.MapGet("/kernels/{kernel_id}", GetKernelAsync);
        api.MapDelete("/kernels/{kernel_id}", DeleteKernelAsync);
        api.MapPost("/kernels/{kernel_id}/interrupt", InterruptAsync).DisableAntiforgery();
        api.MapPost("/kernels/{kernel_id}/restart", RestartAsync).DisableAntiforgery();
        api.MapGet("/kernels/{kernel_id}/channels", KernelChannels.ConnectAsync);
        api.MapGet("/sessions", ListSessionsAsync);
        api.MapPost("/sessions", CreateSessionAsync).DisableAntiforgery();
        api.MapGet("/sessions/{session_id}", GetSessionAsync);
        api.MapPatch("/sessions/{session_id}", UpdateSessionAsync).DisableAntiforgery();
        api.MapDelete("/sessions/{session_id}", DeleteSessionAsync);
        return app;
    }

    public static async Task<IResult> ListSpecsAsync(RuntimeDirectory runtimes, CancellationToken cancellationToken)
    {
        var specs = new JsonObject();
        foreach (var (name, runtime) in await SpecsAsync(runtimes, cancellationToken))
        {
            specs[name] = Spec(name, runtime);
        }
        return TypedResults.Json(new JsonObject { ["default"] = JupyterKernels.DefaultKernelName, ["kernelspecs"] = specs });
    }

    public static async Task<IResult> GetSpecAsync(string name, RuntimeDirectory runtimes, CancellationToken cancellationToken) =>
        (await SpecsAsync(runtimes, cancellationToken)).FirstOrDefault(s => s.Name == name) is { Name: not null } found
            ? TypedResults.Json(Spec(found.Name, found.Runtime))
            : TypedResults.Problem(NoSuchSpec(name));

    /// <summary>
    /// "python3" (the default runtime), then one spec per Python runtime some host offers: a kernel is a sandbox, and
    /// sandboxes keep a Python kernel (the other languages' runtimes run programs, not calls).
    /// </summary>
    private static async Task<IReadOnlyList<(string Name, RuntimeListing? Runtime)>> SpecsAsync(RuntimeDirectory runtimes, CancellationToken cancellationToken)
    {
        var listed = (await runtimes.ListAsync(cancellationToken)).Where(r => r.Language == SourceLanguages.Python).ToList();
        return [(JupyterKernels.DefaultKernelName, listed.FirstOrDefault(r => r.Default)), .. listed.Select(r => (r.Id, (RuntimeListing?)r))];
    }

    private static JsonObject Spec(string name, RuntimeListing? runtime) => new()
    {
        ["name"] = name,
        ["spec"] = new JsonObject
        {
            ["argv"] = new JsonArray(),
            ["display_name"] = runtime is null ? "Python 3 (Executor)" : $"Python {runtime.Version} (Executor: {runtime.Id})",
            ["language"] = "python",
            ["interrupt_mode"] = "signal",
            ["env"] = new JsonObject(),
            ["metadata"] = new JsonObject { ["executor_runtime"] = runtime?.Id },
        },
        ["resources"] = new JsonObject(),
    };

    public static async Task<IResult> ListKernelsAsync(
        HttpContext context, SandboxOperations sandboxes, SessionCommands sessions, ISandboxStore store, CancellationToken cancellationToken)
    {
        var models = new JsonArray();
        foreach (var sandbox in await RunningAsync(sessions.CallerOf(context), sandboxes, cancellationToken))
        {
            models.Add(await ModelAsync(sandbox, store, cancellationToken));
        }
        return TypedResults.Json(models);
    }

    public static async Task<IResult> StartKernelAsync(
        HttpContext context, SandboxOperations sandboxes, SessionCommands sessions, RuntimeDirectory runtimes, CancellationToken cancellationToken)
    {
        var body = await ReadObjectAsync(context.Request, cancellationToken);
        var name = body?["name"] is JsonValue value && value.TryGetValue<string>(out var text) && text.Length > 0 ? text : JupyterKernels.DefaultKernelName;
        var (sandbox, problem) = await StartAsync(name, null, context, sandboxes, sessions, runtimes, cancellationToken);
        if (sandbox is null)
        {
            return Problem(context, problem!);
        }
        context.Response.Headers.Location = $"/api/kernels/{JupyterKernels.KernelId(sandbox.Id)}";
        return TypedResults.Json(JupyterKernels.Model(sandbox, busy: false), statusCode: StatusCodes.Status201Created);
    }

    public static async Task<IResult> GetKernelAsync(
        [FromRoute(Name = "kernel_id")] string kernelId, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions, ISandboxStore store,
        CancellationToken cancellationToken) =>
        await FindAsync(kernelId, context, sandboxes, sessions, cancellationToken) is { } sandbox
            ? TypedResults.Json(await ModelAsync(sandbox, store, cancellationToken))
            : TypedResults.Problem(JupyterKernels.KernelNotFound(kernelId));

    public static async Task<IResult> DeleteKernelAsync(
        [FromRoute(Name = "kernel_id")] string kernelId, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions,
        CancellationToken cancellationToken)
    {
        if (await FindAsync(kernelId, context, sandboxes, sessions, cancellationToken) is not { } sandbox)
        {
            return TypedResults.Problem(JupyterKernels.KernelNotFound(kernelId));
        }
        await sandboxes.DeleteAsync(sandbox, sessions.CallerOf(context), cancellationToken);
        return TypedResults.NoContent();
    }

    public static async Task<IResult> InterruptAsync(
        [FromRoute(Name = "kernel_id")] string kernelId, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions,
        CancellationToken cancellationToken)
    {
        if (await FindAsync(kernelId, context, sandboxes, sessions, cancellationToken) is not { } sandbox)
        {
            return TypedResults.Problem(JupyterKernels.KernelNotFound(kernelId));
        }
        await sandboxes.InterruptAsync(sandbox, cancellationToken);
        return TypedResults.NoContent();
    }

    public static async Task<IResult> RestartAsync(
        [FromRoute(Name = "kernel_id")] string kernelId, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions, ISandboxStore store,
        CancellationToken cancellationToken)
    {
        if (await FindAsync(kernelId, context, sandboxes, sessions, cancellationToken) is not { } sandbox)
        {
            return TypedResults.Problem(JupyterKernels.KernelNotFound(kernelId));
        }
        if (await RestartKernelAsync(sandbox, sessions.CallerOf(context), sandboxes, store, cancellationToken) is { } problem)
        {
            return Problem(context, problem);
        }
        return TypedResults.Json(JupyterKernels.Model(await store.FindSandboxAsync(sandbox.Id, cancellationToken) ?? sandbox, busy: false));
    }

    /// <summary>A fresh namespace (the files stay), its execution count back at 0; a problem when the sandbox could not do it.</summary>
    public static async Task<ProblemDetails?> RestartKernelAsync(
        SandboxRecord sandbox, Caller caller, SandboxOperations sandboxes, ISandboxStore store, CancellationToken cancellationToken)
    {
        var (command, problem) = await sandboxes.RestartAsync(sandbox, caller, cancellationToken);
        if (problem is not null)
        {
            return JupyterKernels.Problem(problem);
        }
        if (command!.Result?.Sandbox?.Status is not (SandboxStatus.Ok or SandboxStatus.Restarted))
        {
            return JupyterKernels.Problem(Problems.Create(StatusCodes.Status502BadGateway, "sandbox-command-failed", "The kernel could not restart",
                command.Result?.Detail ?? $"The restart ended {command.Status}."));
        }
        await JupyterKernels.UpdateStateAsync(sandboxes, sandbox, store, state => state["execution_count"] = 0, cancellationToken);
        return null;
    }

    public static async Task<IResult> ListSessionsAsync(
        HttpContext context, SandboxOperations sandboxes, SessionCommands sessions, ISandboxStore store, CancellationToken cancellationToken)
    {
        var models = new JsonArray();
        foreach (var sandbox in await RunningAsync(sessions.CallerOf(context), sandboxes, cancellationToken))
        {
            if (JupyterKernels.State(sandbox)["session"] is JsonObject session)
            {
                models.Add(SessionModel(session, await ModelAsync(sandbox, store, cancellationToken)));
            }
        }
        return TypedResults.Json(models);
    }

    public static async Task<IResult> CreateSessionAsync(
        HttpContext context, SandboxOperations sandboxes, SessionCommands sessions, RuntimeDirectory runtimes, ISandboxStore store,
        CancellationToken cancellationToken)
    {
        var body = await ReadObjectAsync(context.Request, cancellationToken) ?? [];
        var path = Text(body, "path") ?? Text(body["notebook"] as JsonObject, "path") ?? "";
        if (path.Length > 0 && await FindSessionAsync(s => Text(s, "path") == path, context, sandboxes, sessions, cancellationToken) is (var existing, var kept))
        {
            // Jupyter Server answers a second session for the same path with the first.
            return TypedResults.Json(SessionModel(kept, await ModelAsync(existing, store, cancellationToken)), statusCode: StatusCodes.Status201Created);
        }
        var session = new JsonObject
        {
            ["id"] = Guid.NewGuid().ToString("D"),
            ["path"] = path,
            ["name"] = Text(body, "name") ?? "",
            ["type"] = Text(body, "type") ?? "notebook",
        };
        var kernel = body["kernel"] as JsonObject;
        SandboxRecord? sandbox;
        if (Text(kernel, "id") is { } kernelId)
        {
            if (await FindAsync(kernelId, context, sandboxes, sessions, cancellationToken) is not { } found)
            {
                return TypedResults.Problem(JupyterKernels.KernelNotFound(kernelId));
            }
            await JupyterKernels.UpdateStateAsync(sandboxes, found, store, state => state["session"] = session.DeepClone(), cancellationToken);
            sandbox = found;
        }
        else
        {
            (sandbox, var problem) = await StartAsync(Text(kernel, "name") ?? JupyterKernels.DefaultKernelName, session, context, sandboxes, sessions, runtimes,
                cancellationToken);
            if (sandbox is null)
            {
                return Problem(context, problem!);
            }
        }
        context.Response.Headers.Location = $"/api/sessions/{session["id"]}";
        return TypedResults.Json(SessionModel(session, JupyterKernels.Model(sandbox, busy: false)), statusCode: StatusCodes.Status201Created);
    }

    public static async Task<IResult> GetSessionAsync(
        [FromRoute(Name = "session_id")] string sessionId, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions, ISandboxStore store,
        CancellationToken cancellationToken) =>
        await FindSessionAsync(s => Text(s, "id") == sessionId, context, sandboxes, sessions, cancellationToken) is (var sandbox, var session)
            ? TypedResults.Json(SessionModel(session, await ModelAsync(sandbox, store, cancellationToken)))
            : TypedResults.Problem(SessionNotFound(sessionId));

    /// <summary>
    /// Renames or moves the session, or gives it another kernel (a running one by id, or a new one by name): the kernel
    /// it leaves is shut down, as Jupyter Server does.
    /// </summary>
    public static async Task<IResult> UpdateSessionAsync(
        [FromRoute(Name = "session_id")] string sessionId, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions,
        RuntimeDirectory runtimes, ISandboxStore store, CancellationToken cancellationToken)
    {
        if (await FindSessionAsync(s => Text(s, "id") == sessionId, context, sandboxes, sessions, cancellationToken) is not (var sandbox, var session))
        {
            return TypedResults.Problem(SessionNotFound(sessionId));
        }
        var body = await ReadObjectAsync(context.Request, cancellationToken) ?? [];
        foreach (var field in (string[])["path", "name", "type"])
        {
            if (Text(body, field) is { } value)
            {
                session[field] = value;
            }
        }
        var kernel = body["kernel"] as JsonObject;
        var target = sandbox;
        if (Text(kernel, "id") is { } kernelId && JupyterKernels.SandboxId(kernelId) != sandbox.Id)
        {
            if (await FindAsync(kernelId, context, sandboxes, sessions, cancellationToken) is not { } other)
            {
                return TypedResults.Problem(JupyterKernels.Problem(Problems.Create(StatusCodes.Status400BadRequest, "kernel-not-found", "No such kernel",
                    $"No such kernel: {kernelId}.")));
            }
            target = other;
            await JupyterKernels.UpdateStateAsync(sandboxes, target, store, state => state["session"] = session.DeepClone(), cancellationToken);
        }
        else if (Text(kernel, "id") is null && Text(kernel, "name") is { } name)
        {
            var (started, problem) = await StartAsync(name, session, context, sandboxes, sessions, runtimes, cancellationToken);
            if (started is null)
            {
                return Problem(context, problem!);
            }
            target = started;
        }
        if (target.Id != sandbox.Id)
        {
            await sandboxes.DeleteAsync(sandbox, sessions.CallerOf(context), cancellationToken);
        }
        else
        {
            await JupyterKernels.UpdateStateAsync(sandboxes, sandbox, store, state => state["session"] = session.DeepClone(), cancellationToken);
        }
        var current = await store.FindSandboxAsync(target.Id, cancellationToken) ?? target;
        return TypedResults.Json(SessionModel(session, await ModelAsync(current, store, cancellationToken)));
    }

    /// <summary>Ends the session and shuts its kernel down.</summary>
    public static async Task<IResult> DeleteSessionAsync(
        [FromRoute(Name = "session_id")] string sessionId, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions,
        CancellationToken cancellationToken)
    {
        if (await FindSessionAsync(s => Text(s, "id") == sessionId, context, sandboxes, sessions, cancellationToken) is not (var sandbox, _))
        {
            return TypedResults.Problem(SessionNotFound(sessionId));
        }
        await sandboxes.DeleteAsync(sandbox, sessions.CallerOf(context), cancellationToken);
        return TypedResults.NoContent();
    }

    /// <summary>Creates the sandbox a kernel spec names, keeping the kernel's name (and its session) with it.</summary>
    private static async Task<(SandboxRecord? Sandbox, ProblemDetails? Problem)> StartAsync(
        string kernelName, JsonObject? session, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions, RuntimeDirectory runtimes,
        CancellationToken cancellationToken)
    {
        if ((await SpecsAsync(runtimes, cancellationToken)).All(s => s.Name != kernelName))
        {
            return (null, NoSuchSpec(kernelName));
        }
        var state = new JsonObject { ["kernel_name"] = kernelName, ["execution_count"] = 0 };
        if (session is not null)
        {
            state["session"] = session.DeepClone();
        }
        var runtime = kernelName == JupyterKernels.DefaultKernelName ? null : kernelName;
        var (sandbox, problem) = await sandboxes.CreateAsync(sessions.CallerOf(context),
            new SandboxRequest(runtime, null, null, null) { Attributes = JupyterKernels.WithState(null, state) }, cancellationToken);
        return (sandbox, problem is null ? null : JupyterKernels.Problem(problem));
    }

    private static async Task<SandboxRecord?> FindAsync(
        string kernelId, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions, CancellationToken cancellationToken) =>
        await sandboxes.FindOwnedAsync(JupyterKernels.SandboxId(kernelId), sessions.CallerOf(context), cancellationToken) is { State: SandboxStates.Running } sandbox
            ? sandbox
            : null;

    private static async Task<IEnumerable<SandboxRecord>> RunningAsync(Caller caller, SandboxOperations sandboxes, CancellationToken cancellationToken) =>
        (await sandboxes.ListAsync(caller, cancellationToken)).Where(s => s.State == SandboxStates.Running);

    private static async Task<(SandboxRecord Sandbox, JsonObject Session)?> FindSessionAsync(
        Func<JsonObject, bool> match, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions, CancellationToken cancellationToken)
    {
        foreach (var sandbox in await RunningAsync(sessions.CallerOf(context), sandboxes, cancellationToken))
        {
            if (JupyterKernels.State(sandbox)["session"] is JsonObject session && match(session))
            {
                return (sandbox, session);
            }
        }
        return null;
    }

    /// <summary>The kernel's model, busy while one of its calls is queued or running.</summary>
    public static async Task<JsonObject> ModelAsync(SandboxRecord sandbox, ISandboxStore store, CancellationToken cancellationToken) =>
        JupyterKernels.Model(sandbox, (await store.UnfinishedCommandsAsync(sandbox.Id, cancellationToken))
            .Any(c => c.Options.Sandbox?.Kind == SandboxCommandKinds.Run));

    private static JsonObject SessionModel(JsonObject session, JsonObject kernel)
    {
        var model = (JsonObject)session.DeepClone();
        model["kernel"] = kernel;
        model["notebook"] = new JsonObject { ["path"] = session["path"]?.DeepClone(), ["name"] = session["name"]?.DeepClone() };
        return model;
    }

    private static Task<JsonObject?> ReadObjectAsync(HttpRequest request, CancellationToken cancellationToken) =>
        JsonBody.ReadObjectAsync(request, cancellationToken);

    private static string? Text(JsonObject? node, string name) => JsonBody.Text(node?[name]);

    private static ProblemDetails NoSuchSpec(string name) => JupyterKernels.Problem(Problems.Create(StatusCodes.Status404NotFound,
        "kernelspec-not-found", "No such kernel spec", $"No such kernel spec: '{name}'. GET /api/kernelspecs lists them (one per runtime, and python3)."));

    private static ProblemDetails SessionNotFound(string id) => JupyterKernels.Problem(Problems.Create(StatusCodes.Status404NotFound,
        "jupyter-session-not-found", "No such session", $"Session not found: {id}."));

    private static ProblemHttpResult Problem(HttpContext context, ProblemDetails problem)
    {
        if (problem.Status is StatusCodes.Status503ServiceUnavailable or StatusCodes.Status429TooManyRequests
            && problem.Type?.EndsWith("sandbox-quota", StringComparison.Ordinal) != true)
        {
            context.Response.Headers.RetryAfter = SessionSubmitter.EngineRetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        return TypedResults.Problem(problem);
    }
}
