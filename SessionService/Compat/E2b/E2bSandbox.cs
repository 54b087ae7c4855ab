using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Executor.SessionCore.Access;
using Executor.SessionCore.Sandboxes;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;

namespace Executor.Session.Compat.E2b;

/// <summary>A code context as E2B's code interpreter lists it.</summary>
public sealed record E2bContext(string Id, string Language, string Cwd);

/// <summary>
/// What the E2B surface keeps about a sandbox, in its attributes (the store's, so any replica reads it): the template it
/// was created from, E2B's metadata and environment variables, and its code contexts.
/// </summary>
public sealed record E2bAttributes(
    string Template, Dictionary<string, string> Metadata, Dictionary<string, string> EnvVars, List<E2bContext> Contexts)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Whether the sandbox was granted egress (getInfo's allowInternetAccess).</summary>
    public bool InternetAccess { get; init; }

    public static E2bAttributes Of(SandboxRecord sandbox)
    {
        E2bAttributes? read = null;
        try
        {
            read = sandbox.Attributes is { Length: > 0 } text ? JsonSerializer.Deserialize<E2bAttributes>(text, Json) : null;
        }
        catch (JsonException)
        {
            // a sandbox another surface made: no E2B attributes
        }
        return new E2bAttributes(read?.Template ?? sandbox.Runtime ?? "", read?.Metadata ?? [], read?.EnvVars ?? [], read?.Contexts ?? [])
        {
            InternetAccess = read?.InternetAccess ?? false,
        };
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);
}

/// <summary>
/// The data plane's side of a sandbox: finding it by its own token (E2B's SDKs send no API key there), and the calls the
/// surface makes in a context of its own (commands, directories), whose code is generated here and whose arguments
/// travel as base64 JSON, never pasted into the code.
/// </summary>
public static class E2bSandbox
{
    /// <summary>The context the surface's own calls run in, apart from the user's namespaces.</summary>
    public const string HiddenContext = "__e2b__";

    public const string AccessTokenHeader = "X-Access-Token";
    public const string TrafficTokenHeader = "E2B-Traffic-Access-Token";

    /// <summary>What E2B's own envd reports; 0.4.0 or later spares the SDKs' legacy user names, and E2B's code interpreter needs none newer.</summary>
    public const string EnvdVersion = "0.5.7";

    /// <summary>The sandbox a data-plane request names and its owner, or the status and message E2B's proxy would answer.</summary>
    public static async Task<(SandboxRecord? Sandbox, Caller? Owner, int Status, string? Message)> FindAsync(
        HttpContext context, SandboxOperations sandboxes, CancellationToken cancellationToken)
    {
        var id = context.Request.Headers[E2bDataPlaneRouting.SandboxIdHeader].ToString();
        var token = context.Request.Headers[AccessTokenHeader].ToString() is { Length: > 0 } access
            ? access
            : context.Request.Headers[TrafficTokenHeader].ToString();
        if (await sandboxes.FindByAccessTokenAsync(id, token, cancellationToken) is not var (sandbox, owner))
        {
            return string.IsNullOrEmpty(token)
                ? (null, null, StatusCodes.Status401Unauthorized, "The sandbox's access token is required (X-Access-Token).")
                : (null, null, StatusCodes.Status502BadGateway, $"The sandbox {id} was not found: it never existed, it ended, or the token is not its own.");
        }
        return sandbox.State == SandboxStates.Running
            ? (sandbox, owner, 200, null)
            : (null, null, StatusCodes.Status502BadGateway, $"The sandbox {id} is not running: {sandbox.EndedReason ?? sandbox.State}.");
    }

    /// <summary>The request's body as a JSON object; null when it is empty or not one.</summary>
    public static Task<JsonObject?> ReadObjectAsync(HttpContext context, CancellationToken cancellationToken) =>
        JsonBody.ReadObjectAsync(context.Request, cancellationToken);

    /// <summary>A JSON string's value; null for anything else.</summary>
    public static string? Text(JsonNode? node) => JsonBody.Text(node);

    /// <summary>A JSON error as E2B's envd and proxy answer (the SDKs read "message").</summary>
    public static IResult Error(int status, string message) =>
        TypedResults.Json(new JsonObject { ["code"] = status, ["message"] = message }, statusCode: status);

    /// <summary>The environment a call gets: the sandbox's (E2B's envVars) under the call's own.</summary>
    public static Dictionary<string, string> Env(SandboxRecord sandbox, IReadOnlyDictionary<string, string>? call)
    {
        var env = new Dictionary<string, string>(E2bAttributes.Of(sandbox).EnvVars);
        foreach (var (name, value) in call ?? new Dictionary<string, string>())
        {
            env[name] = value;
        }
        return env;
    }

    /// <summary>
    /// Python that loads <paramref name="arguments"/> as <c>a</c> and then runs <paramref name="body"/>: the arguments
    /// arrive as base64 of their JSON, so nothing a user sent is ever part of the code.
    /// </summary>
    public static string Code(JsonObject arguments, string body) =>
        "import base64 as _b, json as _j\n"
        + $"a = _j.loads(_b.b64decode('{Convert.ToBase64String(Encoding.UTF8.GetBytes(arguments.ToJsonString()))}').decode())\n"
        + body;

    /// <summary>Runs generated code in the hidden context and waits for its end; a problem message when it could not run.</summary>
    public static async Task<(SessionRecord? Call, string? Problem)> RunHiddenAsync(
        SandboxOperations sandboxes, SandboxRecord sandbox, Caller owner, string code, int timeoutSeconds, IReadOnlyDictionary<string, string>? env,
        CancellationToken cancellationToken)
    {
        var (callId, problem) = await sandboxes.CallAsync(sandbox,
            new CallRequest(code, timeoutSeconds, null, false) { Context = HiddenContext, Env = env }, owner, cancellationToken);
        if (problem is not null)
        {
            return (null, problem.Detail ?? problem.Title);
        }
        var call = await sandboxes.WaitAsync(callId!, sandboxes.CallWait(null, timeoutSeconds), cancellationToken);
        return call is not null && SessionStatus.IsTerminal(call.Status) ? (call, null) : (null, "The sandbox did not answer in time.");
    }

    /// <summary>The text/plain value of a call's last expression (its execute_result), or null.</summary>
    public static string? Value(SessionRecord call) =>
        call.Result?.Sandbox?.Outputs?
            .Where(o => o.TryGetProperty("output_type", out var t) && t.GetString() == "execute_result")
            .Select(o => o.TryGetProperty("data", out var d) && d.TryGetProperty("text/plain", out var text) ? text.GetString() : null)
            .LastOrDefault();

    /// <summary>The error a call raised (name and value), or null.</summary>
    public static (string Name, string Value)? RaisedError(SessionRecord call) =>
        call.Result?.Sandbox?.Outputs?
            .Where(o => o.TryGetProperty("output_type", out var t) && t.GetString() == "error")
            .Select(o => ((string Name, string Value)?)(o.GetProperty("ename").GetString() ?? "", o.TryGetProperty("evalue", out var v) ? v.GetString() ?? "" : ""))
            .LastOrDefault();

    /// <summary>A call's timeout: what the client asked (E2B's timeoutMs), else 60 s (E2B's own default), within the key's ceiling.</summary>
    public static int CallTimeout(Caller owner, double? askedSeconds)
    {
        var asked = askedSeconds is > 0 ? (int)Math.Ceiling(askedSeconds.Value) : 60;
        return owner.Quotas.MaxTimeoutSeconds is { } max ? Math.Min(asked, max) : asked;
    }

    /// <summary>The user a data-plane request names in its Basic authorization (E2B's way), or null for the default user.</summary>
    public static string? RequestedUser(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        if (!authorization.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return request.Query["username"].ToString() is { Length: > 0 } name ? name : null;
        }
        try
        {
            var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(authorization[6..].Trim()));
            var user = decoded.Split(':')[0];
            return user.Length > 0 ? user : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>Why a request for another user than the sandbox's is refused (Executor runs everything as the sandbox user), or null.</summary>
    public static string? UserRefusal(HttpRequest request) => RequestedUser(request) is { } user and not "user"
        ? $"Executor runs everything in the sandbox as its one unprivileged user ('user'); '{user}' is not available."
        : null;
}
