using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Threading.RateLimiting;
using Executor.SessionCore.Storage;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace Executor.SessionCore.Access;

/// <summary>
/// Authenticates API keys, presented as "Authorization: Bearer &lt;key&gt;", "X-API-Key: &lt;key&gt;" or "X-Auth-Token:
/// &lt;key&gt;" (the header some compatible clients send). A key's record is cached for two seconds, so a revoked key stops working on every
/// replica within that (the promise is five). Keys are compared in constant time and never logged. An address that
/// keeps presenting missing or wrong keys is slowed down: past Auth:FailuresPerMinute it gets 429, not 401.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> schemeOptions,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    IApiKeyStore keys,
    IMemoryCache cache,
    FailedAuthLimiter failures,
    IOptions<AuthOptions> auth) : AuthenticationHandler<AuthenticationSchemeOptions>(schemeOptions, loggerFactory, encoder)
{
    public const string SchemeName = "ApiKey";
    private static readonly TimeSpan CacheTime = TimeSpan.FromSeconds(2);

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (ReadKey(Request) is not { } key)
        {
            return AuthenticateResult.NoResult();
        }
        if (auth.Value.OperatorKey is { Length: > 0 } operatorKey
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(operatorKey)))
        {
            return Success(Caller.Operator(auth.Value.Defaults.ToQuotas()));
        }
        if (!PresentsKey(Request, auth.Value))
        {
            return AuthenticateResult.NoResult(); // the open mode's rules for a caller without a key apply
        }
        if (ApiKeys.Parse(key) is not var (id, secret)
            || await FindAsync(id) is not { RevokedAt: null } record
            || !ApiKeys.Matches(secret, record.SecretHash))
        {
            failures.Failed(Context);
            return AuthenticateResult.Fail("The API key is unknown or revoked.");
        }
        return Success(new Caller(record.Id, record.Name, record.Role, record.Quotas.Or(auth.Value.Defaults.ToQuotas())));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        if (FailedAuthLimiter.Throttled(Context) is { } retryAfter)
        {
            Response.Headers.RetryAfter = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            await WriteAsync(Problems.Create(StatusCodes.Status429TooManyRequests, "too-many-failed-keys", "Too many requests without a valid key",
                $"This address presented a missing or invalid API key too often; retry in {(int)Math.Ceiling(retryAfter.TotalSeconds)} s."));
            return;
        }
        failures.Failed(Context);
        Response.Headers.WWWAuthenticate = "Bearer realm=\"executor\"";
        await WriteAsync(Problems.Create(StatusCodes.Status401Unauthorized, "unauthorized", "An API key is required",
            "Present a valid API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."
            + (auth.Value.Required ? "" : " Without one, only callers on this machine (loopback) are let in.")));
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        WriteAsync(Problems.Create(StatusCodes.Status403Forbidden, "forbidden", "Operators only",
            "This needs an operator key (POST /prewarm with count, /admin/*)."));

    /// <summary>
    /// The WebSocket subprotocol that carries a key from a browser, which cannot set headers on a WebSocket: the client
    /// offers "executor" and "executor.key.&lt;key&gt;", and the server answers "executor" (see AttachApi).
    /// </summary>
    public const string WebSocketKeyPrefix = "executor.key.";

    /// <summary>Jupyter Server's API, whose clients may present the key as "?token=" (kernels, sessions, kernel specs).</summary>
    public static readonly PathString JupyterApiPrefix = "/api";

    /// <summary>
    /// Whether the request presents something the mode takes as a key: anything in the required mode; in the open mode
    /// only what is shaped as a key (or is the operator key), since some clients must send a key even where none is
    /// needed (E2B's SDKs refuse to start without one).
    /// </summary>
    public static bool PresentsKey(HttpRequest request, AuthOptions options) => ReadKey(request) is { } key
        && (options.Required || ApiKeys.Parse(key) is not null || key == options.OperatorKey);

    /// <summary>
    /// The key a request presents, whichever header carries it (or, on a WebSocket upgrade, the subprotocol; on
    /// Jupyter's API, its token), in its own form or in the "e2b_&lt;hex&gt;" form E2B's SDKs insist on.
    /// </summary>
    public static string? ReadKey(HttpRequest request) => Presented(request) is { } key ? ApiKeys.FromE2bForm(key) : null;

    private static string? Presented(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        foreach (var scheme in (string[])["Bearer ", "token "]) // "token": Jupyter's clients
        {
            if (authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            {
                return authorization[scheme.Length..].Trim();
            }
        }
        foreach (var header in (string[])["X-API-Key", "X-Auth-Token"])
        {
            if (request.Headers[header].ToString() is { Length: > 0 } key)
            {
                return key.Trim();
            }
        }
        foreach (var protocol in request.Headers.SecWebSocketProtocol.SelectMany(p => (p ?? "").Split(',', StringSplitOptions.TrimEntries)))
        {
            if (protocol.StartsWith(WebSocketKeyPrefix, StringComparison.Ordinal) && protocol.Length > WebSocketKeyPrefix.Length)
            {
                return protocol[WebSocketKeyPrefix.Length..];
            }
        }
        // Jupyter's clients put the token in the query where they cannot set a header (the kernel's WebSocket); only
        // Jupyter's API takes it there, so keys stay out of other URLs.
        return request.Path.StartsWithSegments(JupyterApiPrefix) && request.Query["token"].ToString() is { Length: > 0 } token ? token : null;
    }

    private async Task<ApiKeyRecord?> FindAsync(string id) =>
        await cache.GetOrCreateAsync($"api-key:{id}", async entry =>
        {
            entry.AbsoluteExpirationRelativeToNow = CacheTime;
            entry.Size = 1;
            return await keys.FindKeyAsync(id, Context.RequestAborted);
        });

    private static AuthenticateResult Success(Caller caller) =>
        AuthenticateResult.Success(new AuthenticationTicket(caller.ToPrincipal(SchemeName), SchemeName));

    private Task WriteAsync(Microsoft.AspNetCore.Mvc.ProblemDetails problem)
    {
        Response.StatusCode = problem.Status ?? 400;
        return Response.WriteAsJsonAsync(problem, (System.Text.Json.JsonSerializerOptions?)null, "application/problem+json");
    }
}

/// <summary>
/// Counts requests with a missing or wrong key per client address (the rate limiting library's fixed window, partitioned
/// by address): past the limit an address is told to come back later instead of trying more keys.
/// </summary>
public sealed class FailedAuthLimiter(IOptions<AuthOptions> options) : IDisposable
{
    private readonly PartitionedRateLimiter<IPAddress> _limiter = PartitionedRateLimiter.Create<IPAddress, IPAddress>(address =>
        RateLimitPartition.GetFixedWindowLimiter(address, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = options.Value.FailuresPerMinute,
            Window = TimeSpan.FromMinutes(1),
            QueueLimit = 0,
        }));

    private const string Key = "executor:auth-throttled";

    public void Failed(HttpContext context)
    {
        if (context.Items.ContainsKey(Key))
        {
            return;
        }
        using var lease = _limiter.AttemptAcquire(Address(context));
        context.Items[Key] = lease.IsAcquired ? null : lease.TryGetMetadata(MetadataName.RetryAfter, out var retry) ? retry : TimeSpan.FromMinutes(1);
    }

    /// <summary>How long the address must wait, when it failed too often.</summary>
    public static TimeSpan? Throttled(HttpContext context) => context.Items.TryGetValue(Key, out var value) ? value as TimeSpan? : null;

    private static IPAddress Address(HttpContext context) => context.Connection.RemoteIpAddress ?? IPAddress.None;

    public void Dispose() => _limiter.Dispose();
}
