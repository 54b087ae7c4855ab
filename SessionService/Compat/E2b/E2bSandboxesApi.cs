using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Executor.Contracts;
using Executor.SessionCore.Access;
using Executor.SessionCore.Sandboxes;
using Executor.SessionCore.Sessions;
using Microsoft.AspNetCore.Mvc;

namespace Executor.Session.Compat.E2b;

/// <summary>
/// E2B's control plane (its SDKs' E2B_API_URL, here http://host:port/e2b): create, get, list, connect, set the timeout
/// of and kill sandboxes, with the caller's key (X-API-KEY, in Executor's form or E2B's e2b_&lt;hex&gt;). E2B's timeout is
/// Executor's idle timeout, counted from now; the lifetime is the key's ceiling (or the Sandboxes default). Errors are
/// E2B's <c>{"code", "message"}</c>; a sandbox another key owns is 404, as one that never existed.
/// </summary>
public static class E2bSandboxesApi
{
    private const string Tag = "E2B";

    /// <summary>Templates E2B's SDKs default to: the code interpreter's and the plain sandbox's, both the default runtime.</summary>
    private static readonly string[] DefaultTemplates = ["code-interpreter-v1", "code-interpreter", "base"];

    private const int PageLimit = 100;

    public static IEndpointRouteBuilder MapE2bSandboxesApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/e2b").WithTags(Tag).ExcludeFromDescription(); // E2B documents its API; the SDKs are its clients
        api.MapPost("/v2/sandboxes", CreateAsync).WithName("E2bCreateSandbox").WithSummary("E2B: creates a sandbox from a template (a runtime)");
        api.MapPost("/sandboxes", CreateAsync).WithName("E2bCreateSandboxV1").WithSummary("E2B: creates a sandbox (the first API version)");
        api.MapGet("/v2/sandboxes", ListAsync).WithName("E2bListSandboxes").WithSummary("E2B: the caller's running sandboxes (?metadata=, x-next-token)");
        api.MapGet("/sandboxes", ListAsync).WithName("E2bListSandboxesV1").WithSummary("E2B: the caller's running sandboxes");
        api.MapGet("/sandboxes/{sandboxID}", GetAsync).WithName("E2bGetSandbox").WithSummary("E2B: a sandbox's information");
        api.MapDelete("/sandboxes/{sandboxID}", KillAsync).WithName("E2bKillSandbox").WithSummary("E2B: kills a sandbox (404 when there is none)");
        api.MapPost("/v2/sandboxes/{sandboxID}/connect", ConnectAsync).WithName("E2bConnectSandbox")
            .WithSummary("E2B: connects to a running sandbox (its tokens again; 'timeout' sets its idle timeout)");
        api.MapPost("/sandboxes/{sandboxID}/timeout", SetTimeoutAsync).WithName("E2bSetSandboxTimeout")
            .WithSummary("E2B: the sandbox ends after 'timeout' seconds without a command, counted from now");
        api.MapPost("/sandboxes/{sandboxID}/refreshes", RefreshAsync).WithName("E2bRefreshSandbox").WithSummary("E2B: keeps the sandbox alive");
        api.MapGet("/sandboxes/{sandboxID}/metrics", () => TypedResults.Json(Array.Empty<object>())).WithName("E2bSandboxMetrics")
            .WithSummary("E2B: metrics (Executor keeps none per sandbox: an empty list)");
        foreach (var (method, pattern, what) in Unsupported)
        {
            api.MapMethods(pattern, [method], () => Error(StatusCodes.Status501NotImplemented, $"Executor does not support {what}."))
                .WithName("E2bUnsupported" + method + pattern.Replace("/", "_", StringComparison.Ordinal).Replace("{", "", StringComparison.Ordinal)
                    .Replace("}", "", StringComparison.Ordinal))
                .WithSummary($"E2B: {what} (not supported: 501)");
        }
        return app;
    }

    /// <summary>E2B's calls for what Executor cannot do: each answers E2B's error shape with the reason.</summary>
    private static readonly (string Method, string Pattern, string What)[] Unsupported =
    [
        ("POST", "/sandboxes/{sandboxID}/pause", "pausing a sandbox (its kernel lives in memory only; kill it, or let its idle timeout end it)"),
        ("POST", "/sandboxes/{sandboxID}/resume", "resuming a sandbox (sandboxes are never paused)"),
        ("POST", "/sandboxes/{sandboxID}/snapshots", "snapshots of a sandbox"),
        ("GET", "/snapshots", "snapshots"),
        ("POST", "/sandboxes/{sandboxID}/fork", "forking a sandbox"),
        ("PUT", "/sandboxes/{sandboxID}/network", "network settings (sandboxes have no network at all)"),
        ("GET", "/volumes", "volumes"),
        ("POST", "/volumes", "volumes"),
        ("GET", "/templates", "building or listing templates (templates are Executor's runtimes: GET /runtimes)"),
        ("POST", "/templates", "building templates (templates are Executor's runtimes: GET /runtimes)"),
        ("POST", "/v2/templates", "building templates (templates are Executor's runtimes: GET /runtimes)"),
        ("POST", "/v3/templates", "building templates (templates are Executor's runtimes: GET /runtimes)"),
    ];

    public static async Task<IResult> CreateAsync(HttpContext context, SandboxOperations sandboxes, SessionCommands sessions, CancellationToken cancellationToken)
    {
        if (await E2bSandbox.ReadObjectAsync(context, cancellationToken) is not { } body)
        {
            return Error(StatusCodes.Status400BadRequest, "The request body must be a JSON object with 'templateID'.");
        }
        if (CreateRefusal(body) is { } refused)
        {
            return Error(StatusCodes.Status400BadRequest, refused);
        }
        var template = E2bSandbox.Text(body["templateID"]) ?? "base";
        var runtime = DefaultTemplates.Contains(template) ? null : template;
        int? timeout = body["timeout"]?.GetValueKind() == JsonValueKind.Number ? body["timeout"]!.GetValue<int>() : null;
        var metadata = Strings(body["metadata"]);
        var envVars = Strings(body["envVars"]);
        if (metadata is null || envVars is null)
        {
            return Error(StatusCodes.Status400BadRequest, "'metadata' and 'envVars' are objects of strings.");
        }
        if (Egress(body) is ({ } egressRefused, _))
        {
            return Error(StatusCodes.Status400BadRequest, egressRefused);
        }
        var caller = sessions.CallerOf(context);
        // E2B's clients extend a sandbox with setTimeout as they go: its lifetime is what the key allows.
        var lifetime = caller.Quotas.MaxSandboxLifetimeSeconds ?? sandboxes.Options.DefaultLifetimeSeconds;
        if (timeout is { } asked && (asked < 1 || asked > lifetime))
        {
            return Error(StatusCodes.Status400BadRequest, $"'timeout' must be from 1 to {lifetime} seconds for this key (a sandbox's lifetime); got {asked}.");
        }
        var egress = Egress(body).Policy;
        var attributes = new E2bAttributes(template, metadata, envVars, []) { InternetAccess = egress is not null };
        var (sandbox, problem) = await sandboxes.CreateAsync(caller,
            new SandboxRequest(runtime, timeout ?? Math.Min(300, lifetime), lifetime, null)
            {
                Attributes = attributes.ToJson(), WithAccessToken = true, IdleTimeoutAdjustable = true, Egress = egress,
            }, cancellationToken);
        if (problem is not null)
        {
            return Problem(context, problem);
        }
        return TypedResults.Json(Created(sandbox!), statusCode: StatusCodes.Status201Created);
    }

    /// <summary>
    /// The network an E2B create asks for: 'allowInternetAccess: true' (or an allowOut of 0.0.0.0/0) is every
    /// destination the operator allows the key; 'network.allowOut' names destinations (domains, host:port). Left out
    /// or false: none, as ever. E2B's default is the open internet; Executor's is no network unless asked.
    /// </summary>
    private static (string? Refused, EgressPolicy? Policy) Egress(JsonObject body)
    {
        var all = body["allow_internet_access"]?.GetValueKind() == JsonValueKind.True;
        List<string> destinations = [];
        if (body["network"] is JsonObject { } network && network["allowOut"] is { } allowOut)
        {
            if (allowOut is not JsonArray list || list.Any(d => d?.GetValueKind() != JsonValueKind.String))
            {
                return ("'network.allowOut' must be an array of strings (domains or host:port).", null);
            }
            foreach (var destination in list.Select(d => d!.GetValue<string>()))
            {
                if (destination is "0.0.0.0/0" or "::/0")
                {
                    all = true;
                }
                else
                {
                    destinations.Add(destination);
                }
            }
        }
        if (all)
        {
            destinations.Add(EgressGate.Everything);
        }
        return (null, EgressGate.Request(destinations));
    }

    /// <summary>Why a create asks for what Executor cannot do, or null.</summary>
    private static string? CreateRefusal(JsonObject body)
    {
        if (body["network"] is JsonObject network
            && network.Where(p => p.Key != "allowOut" && p.Value is not null && p.Value.GetValueKind() is not (JsonValueKind.False or JsonValueKind.Null))
                .Select(p => p.Key).FirstOrDefault() is { } setting)
        {
            return $"Executor's egress is an allow-list of destinations only: 'network.{setting}' is not supported (use 'network.allowOut').";
        }
        if (body["autoPause"]?.GetValueKind() == JsonValueKind.True || body["autoResume"] is JsonObject)
        {
            return "Executor cannot pause or resume a sandbox: 'onTimeout: pause' and 'autoResume' are not supported.";
        }
        if (body["volumeMounts"] is JsonArray { Count: > 0 })
        {
            return "Executor does not support volumes.";
        }
        if (body["mcp"] is JsonObject)
        {
            return "Executor does not run E2B's MCP gateway in a sandbox.";
        }
        return null;
    }

    public static async Task<IResult> ListAsync(
        HttpContext context, SandboxOperations sandboxes, SessionCommands sessions, [FromQuery] string? metadata, [FromQuery] string? state,
        [FromQuery] int? limit, [FromQuery] string? nextToken, CancellationToken cancellationToken)
    {
        var wanted = MetadataFilter(metadata);
        if (state is { Length: > 0 } && !state.Split(',').Contains("running"))
        {
            return TypedResults.Json(Array.Empty<object>()); // Executor's sandboxes are never paused
        }
        var running = (await sandboxes.ListAsync(sessions.CallerOf(context), cancellationToken))
            .Where(s => s.State == SandboxStates.Running)
            .Select(s => (Sandbox: s, Attributes: E2bAttributes.Of(s)))
            .Where(s => wanted.All(w => s.Attributes.Metadata.TryGetValue(w.Key, out var value) && value == w.Value))
            .OrderByDescending(s => s.Sandbox.CreatedAt).ThenBy(s => s.Sandbox.Id, StringComparer.Ordinal)
            .ToList();
        var skip = int.TryParse(nextToken, NumberStyles.None, CultureInfo.InvariantCulture, out var from) ? from : 0;
        var take = Math.Clamp(limit ?? PageLimit, 1, PageLimit);
        var page = running.Skip(skip).Take(take).ToList();
        if (skip + page.Count < running.Count)
        {
            context.Response.Headers["x-next-token"] = (skip + page.Count).ToString(CultureInfo.InvariantCulture);
        }
        return TypedResults.Json(page.Select(s => Info(s.Sandbox, s.Attributes)).ToList());
    }

    /// <summary>
    /// E2B's metadata query as it arrives: form-encoded pairs (URLSearchParams) of keys and values that the SDK
    /// URL-encoded first, so each is decoded twice.
    /// </summary>
    public static Dictionary<string, string> MetadataFilter(string? query)
    {
        var filter = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in (query ?? "").Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var at = pair.IndexOf('=', StringComparison.Ordinal);
            var key = at < 0 ? pair : pair[..at];
            var value = at < 0 ? "" : pair[(at + 1)..];
            filter[Decode(key)] = Decode(value);
        }
        return filter;
    }

    private static string Decode(string text) => Uri.UnescapeDataString(Uri.UnescapeDataString(text.Replace('+', ' ')));

    public static async Task<IResult> GetAsync(
        string sandboxID, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions, CancellationToken cancellationToken) =>
        await FindRunningAsync(sandboxID, context, sandboxes, sessions, cancellationToken) is { } sandbox
            ? TypedResults.Json(Info(sandbox, E2bAttributes.Of(sandbox)))
            : NotFound(sandboxID);

    public static async Task<IResult> KillAsync(
        string sandboxID, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions, CancellationToken cancellationToken)
    {
        if (await FindRunningAsync(sandboxID, context, sandboxes, sessions, cancellationToken) is not { } sandbox)
        {
            return NotFound(sandboxID);
        }
        await sandboxes.DeleteAsync(sandbox, sessions.CallerOf(context), cancellationToken);
        return TypedResults.NoContent();
    }

    public static async Task<IResult> ConnectAsync(
        string sandboxID, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions, CancellationToken cancellationToken)
    {
        if (await FindRunningAsync(sandboxID, context, sandboxes, sessions, cancellationToken) is not { } sandbox)
        {
            return NotFound(sandboxID);
        }
        var body = await E2bSandbox.ReadObjectAsync(context, cancellationToken) ?? [];
        if (body["timeout"]?.GetValueKind() == JsonValueKind.Number && await sandboxes.SetIdleTimeoutAsync(sandbox, body["timeout"]!.GetValue<int>(), cancellationToken) is { } problem)
        {
            return Problem(context, problem);
        }
        return TypedResults.Json(Created(sandbox));
    }

    public static async Task<IResult> SetTimeoutAsync(
        string sandboxID, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions, CancellationToken cancellationToken)
    {
        if (await FindRunningAsync(sandboxID, context, sandboxes, sessions, cancellationToken) is not { } sandbox)
        {
            return NotFound(sandboxID);
        }
        if ((await E2bSandbox.ReadObjectAsync(context, cancellationToken))?["timeout"] is not { } timeout || timeout.GetValueKind() != JsonValueKind.Number)
        {
            return Error(StatusCodes.Status400BadRequest, "'timeout' (seconds) is required.");
        }
        return await sandboxes.SetIdleTimeoutAsync(sandbox, timeout.GetValue<int>(), cancellationToken) is { } problem
            ? Problem(context, problem)
            : TypedResults.NoContent();
    }

    public static async Task<IResult> RefreshAsync(
        string sandboxID, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions, CancellationToken cancellationToken)
    {
        if (await FindRunningAsync(sandboxID, context, sandboxes, sessions, cancellationToken) is not { } sandbox)
        {
            return NotFound(sandboxID);
        }
        var duration = (await E2bSandbox.ReadObjectAsync(context, cancellationToken))?["duration"] is { } d && d.GetValueKind() == JsonValueKind.Number
            ? d.GetValue<int>()
            : sandbox.IdleTimeoutSeconds;
        return await sandboxes.SetIdleTimeoutAsync(sandbox, duration, cancellationToken) is { } problem ? Problem(context, problem) : TypedResults.NoContent();
    }

    private static async Task<SandboxRecord?> FindRunningAsync(
        string id, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions, CancellationToken cancellationToken) =>
        await sandboxes.FindOwnedAsync(id, sessions.CallerOf(context), cancellationToken) is { State: SandboxStates.Running } sandbox ? sandbox : null;

    /// <summary>What a create or connect answers: the sandbox's id and its own token, as both of E2B's tokens.</summary>
    private static JsonObject Created(SandboxRecord sandbox) => new()
    {
        ["sandboxID"] = sandbox.Id,
        ["templateID"] = E2bAttributes.Of(sandbox).Template,
        ["clientID"] = "executor",
        ["envdVersion"] = E2bSandbox.EnvdVersion,
        ["envdAccessToken"] = sandbox.AccessToken,
        ["trafficAccessToken"] = sandbox.AccessToken,
        ["domain"] = null,
    };

    /// <summary>A sandbox as E2B's GET /sandboxes/{id} and lists describe it; endAt is when its idle timeout ends it.</summary>
    private static JsonObject Info(SandboxRecord sandbox, E2bAttributes attributes) => new()
    {
        ["sandboxID"] = sandbox.Id,
        ["templateID"] = attributes.Template,
        ["clientID"] = "executor",
        ["alias"] = attributes.Template,
        ["startedAt"] = sandbox.CreatedAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
        ["endAt"] = sandbox.IdleUntil.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
        ["state"] = "running",
        ["cpuCount"] = 1,
        ["memoryMB"] = sandbox.MemoryMb ?? 0,
        ["diskSizeMB"] = 0,
        ["envdVersion"] = E2bSandbox.EnvdVersion,
        ["metadata"] = JsonSerializer.SerializeToNode(attributes.Metadata),
        ["allowInternetAccess"] = attributes.InternetAccess,
        ["domain"] = null,
    };

    private static Dictionary<string, string>? Strings(JsonNode? node)
    {
        if (node is null)
        {
            return [];
        }
        if (node is not JsonObject map || map.Any(p => p.Value?.GetValueKind() != JsonValueKind.String))
        {
            return null;
        }
        return map.ToDictionary(p => p.Key, p => p.Value!.GetValue<string>(), StringComparer.Ordinal);
    }

    /// <summary>E2B's 404: the body's code is what makes the SDK's kill return false.</summary>
    private static IResult NotFound(string id) => Error(StatusCodes.Status404NotFound, $"Sandbox {id} not found");

    private static IResult Error(int status, string message) => E2bSandbox.Error(status, message);

    /// <summary>One of Executor's problems in E2B's shape, with Retry-After where the SDK retries (429, 503).</summary>
    private static IResult Problem(HttpContext context, ProblemDetails problem)
    {
        var status = problem.Status ?? StatusCodes.Status500InternalServerError;
        // The SDK retries a 429 or 503 that says when; a full sandbox quota does not free itself, so it says nothing.
        if (status is StatusCodes.Status429TooManyRequests or StatusCodes.Status503ServiceUnavailable
            && problem.Type?.EndsWith("sandbox-quota", StringComparison.Ordinal) != true)
        {
            context.Response.Headers.RetryAfter = SessionSubmitter.EngineRetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        }
        return Error(status, problem.Detail ?? problem.Title ?? "failed");
    }
}
